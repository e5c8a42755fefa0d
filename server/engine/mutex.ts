/** A first-come, first-served lock for async work on one thread. */
export class Mutex {
  #tail: Promise<void> = Promise.resolve();
  #holders = 0;

  /** True while someone holds the lock or waits for it. */
  get busy(): boolean {
    return this.#holders > 0;
  }

  /** The holder and those waiting. */
  get queued(): number {
    return this.#holders;
  }

  /** Waits for the lock; call the returned function exactly once to release it. */
  async acquire(): Promise<() => void> {
    this.#holders++;
    const previous = this.#tail;
    let open!: () => void;
    this.#tail = new Promise((resolve) => (open = resolve));
    await previous;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#holders--;
      open();
    };
  }

  /** Runs `fn` holding the lock. */
  async run<T>(fn: () => T | Promise<T>): Promise<T> {
    const release = await this.acquire();
    try {
      return await fn();
    } finally {
      release();
    }
  }
}
