/**
 * The memory every collection's payload texts may take together (VICINITY_PAYLOAD_MEMORY_MB),
 * counted in characters plus a fixed overhead per text.
 */
export class PayloadBudget {
  readonly limit: number;
  used = 0;

  constructor(limitBytes: number) {
    this.limit = limitBytes;
  }
}

/** Bytes a text is counted as: its characters (one byte each for the usual Latin-1 JSON) and the string's header. */
function cost(text: string): number {
  return text.length + 32;
}

/**
 * Each live point's payload as the JSON text SQLite stores, by label, so a search returns payloads
 * without a SQLite read on the event loop and without parsing them (the text goes into the answer
 * as it is): bench:rag measures what returning ~1 KiB payloads costs. A point without a
 * payload costs nothing. Once the budget is spent, texts of further points are not kept: `get`
 * answers undefined and the caller reads SQLite.
 */
export class PayloadTexts {
  readonly #budget: PayloadBudget;
  readonly #texts: (string | null | undefined)[] = [];

  constructor(budget: PayloadBudget) {
    this.#budget = budget;
  }

  /** The label's payload text, null for none, undefined when not kept (or not live). */
  get(label: number): string | null | undefined {
    return this.#texts[label];
  }

  set(label: number, text: string | null): void {
    this.delete(label);
    if (text === null) {
      this.#texts[label] = null;
      return;
    }
    const bytes = cost(text);
    if (this.#budget.used + bytes > this.#budget.limit) return;
    this.#budget.used += bytes;
    this.#texts[label] = text;
  }

  delete(label: number): void {
    const old = this.#texts[label];
    if (typeof old === 'string') this.#budget.used -= cost(old);
    if (old !== undefined) this.#texts[label] = undefined;
  }

  /** Gives back everything (the collection was dropped or reloaded). */
  clear(): void {
    for (let label = 0; label < this.#texts.length; label++) this.delete(label);
  }
}
