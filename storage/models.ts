import type { Db } from './db.ts';

/** A collection's fitted model, as stored: opaque bytes the index layer encodes and decodes. */
export interface ModelRow {
  codec: Buffer | null;
  pca: Buffer | null;
  /** How many times PCA was fitted: an index built with another version is rebuilt. */
  pcaVersion: number;
}

/** What a fit installs: either part may be left as it is. */
export interface ModelUpdate {
  codec?: Buffer;
  pca?: Buffer;
}

/** Models of compressed collections (one row each, created by the first fit). */
export class ModelsRepo {
  readonly #get;
  readonly #upsert;

  constructor(db: Db) {
    this.#get = db.prepare<[number], { codec: Buffer | null; pca: Buffer | null; pca_version: number }>(
      'SELECT codec, pca, pca_version FROM models WHERE collection_id = ?',
    );
    this.#upsert = db.prepare<[number, Buffer | null, Buffer | null, number]>(
      `INSERT INTO models (collection_id, codec, pca, pca_version) VALUES (?, ?, ?, ?)
       ON CONFLICT (collection_id) DO UPDATE
         SET codec = excluded.codec, pca = excluded.pca, pca_version = excluded.pca_version`,
    );
  }

  get(collectionId: number): ModelRow {
    const row = this.#get.get(collectionId);
    return { codec: row?.codec ?? null, pca: row?.pca ?? null, pcaVersion: row?.pca_version ?? 0 };
  }

  /** Installs new parts; a new PCA takes the next version. Call inside the fit's transaction. */
  install(collectionId: number, update: ModelUpdate): ModelRow {
    const next = updatedModel(this.get(collectionId), update);
    this.#upsert.run(collectionId, next.codec, next.pca, next.pcaVersion);
    return next;
  }
}

/** The model `update` makes of `current`: a new PCA takes the next version. */
export function updatedModel(current: ModelRow, update: ModelUpdate): ModelRow {
  return {
    codec: update.codec ?? current.codec,
    pca: update.pca ?? current.pca,
    pcaVersion: update.pca ? current.pcaVersion + 1 : current.pcaVersion,
  };
}
