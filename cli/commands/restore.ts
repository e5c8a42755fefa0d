import { RestoreError, restoreBackup } from '../../server/backups/restore.ts';
import { EXIT, type Io } from '../io.ts';

/** `vicinity restore <backup> --data-dir <dir>`: checks the backup, then copies it into an empty directory. */
export async function runRestore(backup: string, options: { dataDir: string }, io: Io): Promise<number> {
  try {
    const manifest = await restoreBackup(backup, options.dataDir);
    const points = manifest.collections.reduce((sum, c) => sum + c.points, 0);
    io.err.write(
      `restored backup ${manifest.id} (seq ${manifest.seq}: ${manifest.collections.length} collections, ${points} points) into ${options.dataDir}; ` +
        `start the server with VICINITY_DATA_DIR=${options.dataDir}\n`,
    );
    return EXIT.ok;
  } catch (err) {
    if (!(err instanceof RestoreError)) throw err;
    io.err.write(`error: ${err.message}\n`);
    return EXIT.failed;
  }
}
