import type { Writer } from './writer.ts';

/**
 * The server's write lock lent to another connection over a message channel, one transaction at a
 * time: the build process and the upload thread borrow it this way (see `Writer`). Requests and
 * returns carry the borrower's own ids.
 */
export class LockLender {
  readonly #writer: Writer;
  readonly #by: 'server' | 'build';
  readonly #leases = new Map<number, { release: () => void; at: number }>();

  /** `by` labels the time each lease was held in /metrics' write-lock histogram. */
  constructor(writer: Writer, by: 'server' | 'build') {
    this.#writer = writer;
    this.#by = by;
  }

  /**
   * Takes the lock for lease `id` once it is free, then calls `grant`, which answers the borrower
   * and says whether the lease is now held; when it is not (refused, or the borrower gone), the
   * lock goes straight back.
   */
  lend(id: number, grant: () => boolean): void {
    void this.#writer.lease().then((release) => {
      if (grant()) this.#leases.set(id, { release, at: performance.now() });
      else release();
    });
  }

  /** The borrower gave lease `id` back. */
  returned(id: number): void {
    const lease = this.#leases.get(id);
    this.#leases.delete(id);
    if (!lease) return;
    lease.release();
    this.#writer.observe?.((performance.now() - lease.at) / 1000, this.#by);
  }

  /** The borrower is gone: a transaction it had open was never committed, and SQLite dropped its lock with it. */
  returnAll(): void {
    for (const { release } of this.#leases.values()) release();
    this.#leases.clear();
  }
}

/** The borrowing side: asks for the lock by id and resolves, once granted, with the function that gives it back. */
export class LockBorrower<Ask extends object> {
  readonly #send: (message: ({ type: 'lock'; id: number } & Ask) | { type: 'unlock'; id: number }) => void;
  readonly #grants = new Map<number, (granted: boolean) => void>();
  #next = 0;

  constructor(send: (message: ({ type: 'lock'; id: number } & Ask) | { type: 'unlock'; id: number }) => void) {
    this.#send = send;
  }

  /** Rejects when the lender refuses (the job it was asked for has ended). */
  acquire(ask: Ask): Promise<() => void> {
    return new Promise((resolve, reject) => {
      const id = this.#next++;
      this.#grants.set(id, (granted) => (granted ? resolve(() => this.#send({ type: 'unlock', id })) : reject(new Error('the job ended'))));
      this.#send({ type: 'lock', id, ...ask });
    });
  }

  /** The lender's answer to request `id`. */
  answered(id: number, granted: boolean): void {
    this.#grants.get(id)?.(granted);
    this.#grants.delete(id);
  }
}
