import { spawn, type ChildProcess } from 'node:child_process';

export interface Running {
  child: ChildProcess;
  url: string;
}

/** Starts `server/main.ts` as a child process on port 0; resolves with its URL once it listens. */
export async function spawnServer(dataDir: string, env: Record<string, string> = {}): Promise<Running> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'server/main.ts'], {
    env: {
      ...process.env,
      VICINITY_PORT: '0',
      VICINITY_DATA_DIR: dataDir,
      VICINITY_LOG_LEVEL: 'info',
      VICINITY_SNAPSHOT_EVERY_CHANGES: '150',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const url = await new Promise<string>((resolve, reject) => {
    let buffer = '';
    child.stdout.on('data', (chunk: Buffer) => {
      buffer += chunk.toString();
      const match = /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(buffer);
      if (match) resolve(match[1]);
    });
    child.once('exit', (code) => reject(new Error(`server exited early with ${code}`)));
  });
  child.stdout.resume();
  return { child, url };
}

/** SIGKILL, as a crash would. */
export function kill(running: Running): Promise<void> {
  return new Promise((resolve) => {
    running.child.once('exit', () => resolve());
    running.child.kill('SIGKILL');
  });
}
