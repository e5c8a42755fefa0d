import { Embeddings } from '@langchain/core/embeddings';

export const EMBEDDING_DIM = 32;

/** A deterministic text embedding for tests: each word hashed into one of 32 signed buckets, normalised. */
export function embed(text: string): number[] {
  const v = new Array<number>(EMBEDDING_DIM).fill(0);
  for (const word of text.toLowerCase().match(/[a-z]+/g) ?? []) {
    let h = 2166136261;
    for (const ch of word) h = Math.imul(h ^ ch.charCodeAt(0), 16777619) >>> 0;
    v[h % EMBEDDING_DIM] += h & 0x10000 ? 1 : -1;
  }
  const norm = Math.hypot(...v) || 1;
  return v.map((x) => x / norm);
}

/** LangChain embeddings over `embed`: no model download, no network. */
export class WordEmbeddings extends Embeddings {
  constructor() {
    super({});
  }

  embedDocuments(texts: string[]): Promise<number[][]> {
    return Promise.resolve(texts.map((text) => embed(text)));
  }

  embedQuery(text: string): Promise<number[]> {
    return Promise.resolve(embed(text));
  }
}
