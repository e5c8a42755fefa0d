/**
 * `npm run openapi` prints the OpenAPI document (or writes it: `-- --out file.json`);
 * `npm run openapi:types` writes the client's types from it (openapi-types.ts).
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { openApiDocument } from '../server/openapi/build.ts';
import { generateTypes, TYPES_FILE, writeTypes } from './openapi-types.ts';

const { values } = parseArgs({ options: { out: { type: 'string' }, types: { type: 'boolean', default: false } } });
const document = await openApiDocument();
if (values.types) {
  writeTypes(await generateTypes(document));
  process.stderr.write(`wrote ${TYPES_FILE}\n`);
} else if (values.out) {
  writeFileSync(values.out, `${JSON.stringify(document, null, 2)}\n`);
} else {
  process.stdout.write(`${JSON.stringify(document, null, 2)}\n`);
}
