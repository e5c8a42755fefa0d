/**
 * Holds the main thread's SQLite writes back while another connection holds the write lock (an
 * import's commit in the build process), so the event loop never spins in SQLite's busy handler.
 */
export class WriteGate {
  #closed: Promise<void> | null = null;

  /** Resolves when writes may go ahead; write synchronously right after it, in the same tick. */
  async pass(): Promise<void> {
    while (this.#closed) await this.#closed;
  }

  /** Runs `fn` with every other write held back. */
  async hold<T>(fn: () => Promise<T>): Promise<T> {
    await this.pass();
    let open!: () => void;
    this.#closed = new Promise((resolve) => (open = resolve));
    try {
      return await fn();
    } finally {
      this.#closed = null;
      open();
    }
  }
}
