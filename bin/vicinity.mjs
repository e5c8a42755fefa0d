#!/usr/bin/env node
// The `vicinity` command: loads TypeScript through tsx, then runs cli/cli.ts.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../cli/cli.ts');
process.exitCode = await main(process.argv);
