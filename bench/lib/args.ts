/** Command-line values shared by the benchmarks' flag parsers; each error names the flag. */

export function positiveInt(name: string, text: string): number {
  const value = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(value) || value < 1) throw new Error(`--${name} must be a positive integer, got '${text}'`);
  return value;
}

export function nonNegativeInt(name: string, text: string): number {
  return text === '0' ? 0 : positiveInt(name, text);
}

export function intList(name: string, text: string): number[] {
  return text.split(',').map((part) => positiveInt(name, part.trim()));
}

export function positiveSeconds(name: string, text: string): number {
  const value = Number(text);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`--${name} must be a positive number of seconds, got '${text}'`);
  return value;
}

/** parseArgs definitions of the flags every server benchmark takes: load tool, installs, server settings. */
export const SERVER_FLAGS = {
  'no-wrk': { type: 'boolean', default: false },
  'no-install': { type: 'boolean', default: false },
  'server-env': { type: 'string', multiple: true, default: [] as string[] },
  'server-log': { type: 'string', default: 'info' },
} as const;

/** `--server-env VICINITY_NAME=value` pairs as an object; the server refuses unknown names itself. */
export function serverEnv(pairs: string[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const pair of pairs) {
    const match = /^(VICINITY_[A-Z0-9_]+)=(.*)$/.exec(pair);
    if (match === null) throw new Error(`--server-env takes VICINITY_NAME=value, got '${pair}'`);
    env[match[1]] = match[2]!;
  }
  return env;
}

/**
 * Runs a benchmark's command line: parses the flags (exit 2 with the usage on a bad one), prints the
 * usage for --help, runs the body and exits with its code (1 on an exception).
 */
export function runCli<O extends { help: boolean }>(parse: () => O, usage: string, body: (options: O) => Promise<number>): void {
  let options: O;
  try {
    options = parse();
  } catch (err) {
    console.error(`${(err as Error).message}\n\n${usage}`);
    process.exit(2);
  }
  if (options.help) {
    console.log(usage);
    process.exit(0);
  }
  body(options).then(
    (code) => process.exit(code),
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
}

/** The options of every bench over a data set: `--smoke`, `--train N`, `--queries N`, `--no-install`, `--help`. */
export const DATA_OPTIONS = {
  smoke: { type: 'boolean', default: false },
  train: { type: 'string' },
  queries: { type: 'string' },
  'no-install': { type: 'boolean', default: false },
  help: { type: 'boolean', default: false },
} as const;

export interface DataSizes {
  help: boolean;
  smoke: boolean;
  install: boolean;
  train: number;
  queries: number;
}

/** Reads DATA_OPTIONS, with the sizes a smoke run and a full run default to. */
export function dataSizes(
  values: { smoke?: boolean; train?: string; queries?: string; 'no-install'?: boolean; help?: boolean },
  defaults: { train: [smoke: number, full: number]; queries: [smoke: number, full: number] },
): DataSizes {
  const pick = (d: [number, number]) => String(values.smoke ? d[0] : d[1]);
  return {
    help: values.help ?? false,
    smoke: values.smoke ?? false,
    install: !values['no-install'],
    train: positiveInt('train', values.train ?? pick(defaults.train)),
    queries: positiveInt('queries', values.queries ?? pick(defaults.queries)),
  };
}
