import { Presets, SingleBar } from 'cli-progress';
import { bytes, eta, mibPerSecond, seconds } from './summary.ts';
import { FINISHED_STATES, type Job } from '../client/src/index.ts';

/** Reports an import's two phases: the upload (bytes read for sending) and the build (the job). */
export interface Progress {
  upload(sent: number): void;
  uploadDone(records: number): void;
  build(job: Job): void;
  /** Stops drawing; leaves the last state on screen. Safe to call twice. */
  stop(): void;
}

export interface ProgressOptions {
  /** Bars (a terminal) or plain lines (logs, pipes, `--no-progress`). */
  bars: boolean;
  stream: NodeJS.WritableStream;
  fileBytes: number;
  /** Plain mode: at most one line per this many ms. */
  intervalMs?: number;
  now?: () => number;
}

export function createProgress(options: ProgressOptions): Progress {
  return options.bars ? new BarProgress(options) : new LineProgress(options);
}

const count = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });

function uploadFigures(sent: number, size: number, elapsedS: number): string {
  if (elapsedS <= 0) return `${bytes(sent)} / ${bytes(size)}`;
  const left = sent > 0 && sent < size ? `, eta ${eta(((size - sent) * elapsedS) / sent)}` : '';
  return `${bytes(sent)} / ${bytes(size)} at ${mibPerSecond(sent, elapsedS)}${left}`;
}

function buildFigures(job: Job): string {
  const total = job.total === null ? '?' : count.format(job.total);
  const left = job.eta_s === null || FINISHED_STATES.includes(job.state) ? '' : `, eta ${eta(job.eta_s)}`;
  const phase = job.phase ? ` (${job.phase})` : '';
  return `${count.format(job.processed)} / ${total} records at ${count.format(job.rate)}/s${left}${phase}`;
}

class BarProgress implements Progress {
  readonly #options: ProgressOptions;
  readonly #started: number;
  #bar: SingleBar;
  #building = false;

  constructor(options: ProgressOptions) {
    this.#options = options;
    this.#started = (options.now ?? Date.now)();
    this.#bar = this.#newBar('upload |{bar}| {percentage}% {figures}');
    this.#bar.start(Math.max(options.fileBytes, 1), 0, { figures: '' });
  }

  upload(sent: number): void {
    const elapsed = ((this.#options.now ?? Date.now)() - this.#started) / 1000;
    this.#bar.update(sent, { figures: uploadFigures(sent, this.#options.fileBytes, elapsed) });
  }

  uploadDone(): void {
    this.upload(this.#options.fileBytes);
    this.#bar.update(Math.max(this.#options.fileBytes, 1));
    this.#bar.stop();
  }

  build(job: Job): void {
    if (!this.#building) {
      this.#building = true;
      this.#bar = this.#newBar('build  |{bar}| {percentage}% {figures}');
      this.#bar.start(1, 0, { figures: '' });
    }
    // total is null until the server knows it: the bar stays empty and the figures show '?'.
    this.#bar.setTotal(Math.max(job.total ?? 1, 1));
    this.#bar.update(job.total === null ? 0 : job.processed, { figures: buildFigures(job) });
  }

  stop(): void {
    this.#bar.stop();
  }

  #newBar(format: string): SingleBar {
    const options = { format, stream: this.#options.stream, hideCursor: true, barsize: 30, fps: 10, clearOnComplete: false };
    return new SingleBar(options, Presets.shades_classic);
  }
}

class LineProgress implements Progress {
  readonly #options: ProgressOptions;
  readonly #now: () => number;
  readonly #started: number;
  #last = -Infinity;

  constructor(options: ProgressOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
    this.#started = this.#now();
  }

  upload(sent: number): void {
    if (!this.#due()) return;
    const elapsed = (this.#now() - this.#started) / 1000;
    this.#line(`upload: ${uploadFigures(sent, this.#options.fileBytes, elapsed)}`);
  }

  uploadDone(records: number): void {
    const elapsed = (this.#now() - this.#started) / 1000;
    this.#line(`upload: done, ${bytes(this.#options.fileBytes)} in ${seconds(elapsed)}, ${count.format(records)} records staged`);
    this.#last = -Infinity;
  }

  build(job: Job): void {
    if (this.#due()) this.#line(`build: ${buildFigures(job)}`);
  }

  stop(): void {}

  #due(): boolean {
    const now = this.#now();
    if (now - this.#last < (this.#options.intervalMs ?? 3000)) return false;
    this.#last = now;
    return true;
  }

  #line(text: string): void {
    this.#options.stream.write(text + '\n');
  }
}
