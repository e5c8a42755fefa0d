import { VicinityClient } from '../../client/src/index.ts';
import { EXIT, type Io } from '../io.ts';
import { jobText } from '../summary.ts';

/** `vicinity job ID`: the job's state and figures. */
export async function runJob(id: string, options: { url: string; apiKey?: string; json?: boolean }, io: Io): Promise<number> {
  const job = await new VicinityClient(options.url, { apiKey: options.apiKey }).getJob(id);
  io.out.write(options.json ? JSON.stringify(job) + '\n' : jobText(job));
  return EXIT.ok;
}
