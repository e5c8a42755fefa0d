import { readFileSync } from 'node:fs';
import { Command, CommanderError, Option } from 'commander';
import type { ImportOptions } from './commands/import.ts';
import type { SearchOptions } from './commands/search.ts';
import { FORMATS } from './formats.ts';
import { EXIT, processIo, reportError, type Io } from './io.ts';
import { apiKeyOption, buildOrderArg, jsonObject, jsonVector, nonNegativeInt, positiveInt, urlOption } from './options.ts';

const VERSION = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;

/**
 * The `vicinity` command line. Each command's code is imported when it runs, so `--help` and the
 * client commands never load the server.
 */
export function buildProgram(io: Io, done: (code: number) => void): Command {
  const program = new Command('vicinity')
    .description('Vicinity vector-search database: import files, search, follow jobs, run the server')
    .version(VERSION)
    .configureOutput({ writeOut: (s) => io.out.write(s), writeErr: (s) => io.err.write(s) })
    .showHelpAfterError('(add --help for usage)')
    .exitOverride();

  program
    .command('import')
    .description('stream a file of vectors into a collection, then follow the index build to its end')
    .argument('<file>', '.npy, .fvecs, .ndjson/.jsonl or .msgpack/.mpk file')
    .requiredOption('--collection <name>', 'collection to import into')
    .option('--create', 'create the collection first (an identical existing one is fine)')
    .option('--dimension <d>', 'dimension for --create (default: from the .npy or .fvecs header)', positiveInt)
    .addOption(new Option('--metric <metric>', 'metric for --create (default: l2)').choices(['cosine', 'l2', 'ip']))
    .addOption(new Option('--format <format>', 'file format (default: from the extension)').choices(FORMATS))
    .option('--id-offset <n>', 'id of the first row of .npy/.fvecs files (row r gets n + r)', nonNegativeInt)
    .addOption(new Option('--build-order <order>', "order the index is built in: auto, given, random, lid_desc, lid_asc or by_payload:<field> (default: the collection's; auto, a seeded shuffle, unless it was created with another)").argParser(buildOrderArg))
    .option('--seed <n>', 'seed of the shuffle (--build-order auto or random)', nonNegativeInt)
    .addOption(urlOption())
    .addOption(apiKeyOption())
    .option('--no-progress', 'plain progress lines instead of bars')
    .option('--json', 'print the summary as one JSON object')
    .action(async (file: string, options: ImportOptions) => {
      const { runImport } = await import('./commands/import.ts');
      done(await runImport(file, options, io));
    });

  program
    .command('search')
    .description('search a collection and print the nearest points')
    .requiredOption('--collection <name>', 'collection to search')
    .addOption(new Option('--vector <json>', 'query vector as a JSON array').argParser(jsonVector).conflicts('random'))
    .option('--random', "a random query vector of the collection's dimension")
    .option('-k, --k <k>', 'number of results', positiveInt, 10)
    .option('--ef <ef>', 'HNSW ef of this search (default: the collection’s)', positiveInt)
    .option('--where <json>', 'payload filter as a JSON object', jsonObject)
    .option('--payload', 'show payloads')
    .option('--select <json>', 'diverse selection as a JSON object, e.g. {"mode":"mmr","lambda":0.5}', jsonObject)
    .option('--expand <json>', 'graph expansion as a JSON object, e.g. {"via":["links:next"],"hops":2}', jsonObject)
    .option('--explain', 'show where each result came from, and the quality of the set')
    .addOption(urlOption())
    .addOption(apiKeyOption())
    .option('--json', "print the server's JSON answer")
    .action(async (options: SearchOptions) => {
      const { runSearch } = await import('./commands/search.ts');
      done(await runSearch(options, io));
    });

  const keys = program.command('keys').description('manage the API keys of a keys file (VICINITY_API_KEYS_FILE)');
  const fileOption = () => new Option('--file <path>', 'the keys file').env('VICINITY_API_KEYS_FILE').makeOptionMandatory();
  keys
    .command('create')
    .description('make a new random key, print it once and store its digest')
    .requiredOption('--name <name>', 'a name for the key (unique in the file)')
    .addOption(new Option('--role <role>', 'what it may do').choices(['read', 'write', 'admin']).makeOptionMandatory())
    .option('--collections <list>', 'comma-separated collection names or prefixes ending in * it is limited to')
    .addOption(fileOption())
    .action(async (options: { name: string; role: 'read' | 'write' | 'admin'; collections?: string; file: string }) => {
      const { createKey } = await import('./commands/keys.ts');
      done(createKey(options, io));
    });
  keys
    .command('list')
    .description('print the keys: name, role, collections')
    .addOption(fileOption())
    .action(async (options: { file: string }) => {
      const { listKeys } = await import('./commands/keys.ts');
      done(listKeys(options, io));
    });
  keys
    .command('revoke')
    .description('remove a key by name')
    .requiredOption('--name <name>', 'the key to remove')
    .addOption(fileOption())
    .action(async (options: { name: string; file: string }) => {
      const { revokeKey } = await import('./commands/keys.ts');
      done(revokeKey(options, io));
    });

  program
    .command('job')
    .description('show an import job')
    .argument('<id>', 'job id (printed by import)')
    .addOption(urlOption())
    .addOption(apiKeyOption())
    .option('--json', "print the server's JSON answer")
    .action(async (id: string, options: { url: string; apiKey?: string; json?: boolean }) => {
      const { runJob } = await import('./commands/job.ts');
      done(await runJob(id, options, io));
    });

  program
    .command('restore')
    .description('restore a backup (POST /v1/backups) into an empty data directory, after checking its checksums')
    .argument('<backup>', 'the backup directory (holding manifest.json)')
    .requiredOption('--data-dir <dir>', 'the new data directory (missing or empty)')
    .action(async (backup: string, options: { dataDir: string }) => {
      const { runRestore } = await import('./commands/restore.ts');
      done(await runRestore(backup, options, io));
    });

  program
    .command('serve')
    .description('run the server in the foreground (configured by VICINITY_* environment variables: see docs/configuration.md)')
    .action(async () => {
      const { runServe } = await import('./commands/serve.ts');
      done(await runServe());
    });

  return program;
}

/** Runs the command line; resolves with the exit code (0, 1 failure, 2 usage error, 130 interrupted). */
export async function main(argv: string[], io: Io = processIo): Promise<number> {
  let code: number = EXIT.ok;
  try {
    await buildProgram(io, (c) => (code = c)).parseAsync(argv);
    return code;
  } catch (err) {
    // Commander has printed its own message; 0 is --help or --version.
    if (err instanceof CommanderError) return err.exitCode === 0 ? EXIT.ok : EXIT.usage;
    return reportError(io, err);
  }
}
