import { UsageError } from './options.ts';
import { VicinityError } from '../client/src/index.ts';

/** Where a command writes: stdout for results, stderr for progress and errors. */
export interface Io {
  out: NodeJS.WritableStream;
  err: NodeJS.WritableStream;
  /** stderr is a terminal: progress may draw bars there. */
  errIsTTY: boolean;
}

export const processIo: Io = { out: process.stdout, err: process.stderr, errIsTTY: process.stderr.isTTY === true };

/** Exit codes: 1 for a failure, 2 for a usage error (commander's own and ours), 130 after Ctrl-C. */
export const EXIT = { ok: 0, failed: 1, usage: 2, interrupted: 130 } as const;

/** Prints `error: <code>: <message>` for server errors, `error: <message>` otherwise; returns the exit code. */
export function reportError(io: Io, err: unknown): number {
  if (err instanceof UsageError) {
    io.err.write(`error: ${err.message}\n`);
    return EXIT.usage;
  }
  if (err instanceof VicinityError) {
    io.err.write(err.status === 0 ? `error: ${err.message}\n` : `error: ${err.code}: ${err.message}\n`);
    return EXIT.failed;
  }
  io.err.write(`error: ${err instanceof Error ? err.message : String(err)}\n`);
  return EXIT.failed;
}
