/**
 * A LangChain.js vector store over a Vicinity collection (docs/langchain.md). A document's page
 * content goes into its point's payload under `textKey`, its metadata into the rest of the payload;
 * LangChain's `filter` is Vicinity's `where`; maximal marginal relevance runs on the server
 * (`select: {mode: 'mmr'}`), one round trip with no vectors shipped back.
 */
import { randomUUID } from 'node:crypto';
import { Document, type DocumentInterface } from '@langchain/core/documents';
import type { EmbeddingsInterface } from '@langchain/core/embeddings';
import { VectorStore, type MaxMarginalRelevanceSearchOptions } from '@langchain/core/vectorstores';
import { VicinityClient, type ClientOptions } from './client.ts';
import { VicinityError } from './errors.ts';
import type { CollectionSpec, Metric, Payload, PointId, SearchHit, Where } from './types.ts';

/** Where LangChain's page content goes in a point's payload unless `textKey` says otherwise. */
export const DEFAULT_TEXT_KEY = 'text';
/** LangChain's defaults for maximal marginal relevance: candidates fetched, and λ. */
const MMR_FETCH_K = 20;
const MMR_LAMBDA = 0.5;

export interface VicinityStoreArgs {
  /** The collection; created on the first write when missing (with `collectionSpec`). */
  collection: string;
  /** An existing client, or the server's URL (and `apiKey`, `clientOptions`) for a new one. */
  client?: VicinityClient;
  url?: string;
  apiKey?: string;
  clientOptions?: Omit<ClientOptions, 'apiKey'>;
  /** The payload field holding a document's page content (default `text`). */
  textKey?: string;
  /** What a collection created by the store is made with: default `{metric: 'cosine'}`, the dimension from the first vectors. */
  collectionSpec?: Partial<CollectionSpec>;
}

/**
 * `VectorStore` for Vicinity. Scores follow LangChain's convention, higher is closer: under cosine
 * the cosine similarity (1 − distance), under `ip` the inner product (1 − distance), under `l2`
 * 1 / (1 + squared Euclidean distance).
 */
export class VicinityVectorStore extends VectorStore {
  declare FilterType: Where;

  readonly client: VicinityClient;
  readonly collection: string;
  readonly textKey: string;
  readonly #spec: Partial<CollectionSpec>;
  /** The collection's metric, once known (it decides how distances become scores). */
  #metric: Metric | null = null;

  constructor(embeddings: EmbeddingsInterface, args: VicinityStoreArgs) {
    super(embeddings, args);
    if (!args.collection) throw new TypeError('VicinityVectorStore needs a collection name');
    this.client = args.client ?? new VicinityClient(args.url, { ...args.clientOptions, apiKey: args.apiKey });
    this.collection = args.collection;
    this.textKey = args.textKey ?? DEFAULT_TEXT_KEY;
    this.#spec = args.collectionSpec ?? {};
  }

  _vectorstoreType(): string {
    return 'vicinity';
  }

  async addDocuments(documents: DocumentInterface[], options?: { ids?: string[] }): Promise<string[]> {
    const vectors = await this.embeddings.embedDocuments(documents.map((d) => d.pageContent));
    return this.addVectors(vectors, documents, options);
  }

  /**
   * Upserts one point per document: its id from `options.ids`, else the document's own id, else a
   * new UUID. Putting an id again replaces that point.
   */
  async addVectors(vectors: number[][], documents: DocumentInterface[], options?: { ids?: string[] }): Promise<string[]> {
    if (vectors.length !== documents.length) throw new TypeError(`addVectors got ${vectors.length} vectors for ${documents.length} documents`);
    if (options?.ids && options.ids.length !== documents.length) throw new TypeError(`addVectors got ${options.ids.length} ids for ${documents.length} documents`);
    if (documents.length === 0) return [];
    const ids = documents.map((d, i) => options?.ids?.[i] ?? d.id ?? randomUUID());
    const points = documents.map((d, i) => ({ id: ids[i], vector: vectors[i], payload: this.#payload(d) }));
    await this.#ensureCollection(vectors[0].length);
    await this.client.upsert(this.collection, points);
    return ids;
  }

  async similaritySearchVectorWithScore(query: number[], k: number, filter?: Where): Promise<[DocumentInterface, number][]> {
    const answer = await this.client.search(this.collection, { vector: query, k, ...(filter ? { where: filter } : {}), with_payload: true });
    const metric = await this.#metricOf();
    return answer.results.map((hit) => [this.#document(hit), score(metric, hit.distance)]);
  }

  /** MMR as LangChain defines it (cosine similarity; λ 0.5 and 20 candidates by default), computed by the server. */
  override async maxMarginalRelevanceSearch(query: string, options: MaxMarginalRelevanceSearchOptions<Where>): Promise<DocumentInterface[]> {
    const vector = await this.embeddings.embedQuery(query);
    const { k } = options;
    const answer = await this.client.search(this.collection, {
      vector,
      k,
      ...(options.filter ? { where: options.filter } : {}),
      select: { mode: 'mmr', lambda: options.lambda ?? MMR_LAMBDA, pool: Math.max(k, options.fetchK ?? MMR_FETCH_K) },
      with_payload: true,
    });
    return answer.results.map((hit) => this.#document(hit));
  }

  /** `{ids}` deletes those points; `{filter}` every point the `where` filter matches. */
  override async delete(params: { ids?: PointId[]; filter?: Where } = {}): Promise<void> {
    if (params.ids && params.filter) throw new TypeError('delete takes ids or a filter, not both');
    if (params.ids) {
      if (params.ids.length > 0) await this.client.deletePoints(this.collection, { ids: params.ids });
    } else if (params.filter) {
      await this.client.deletePoints(this.collection, { where: params.filter });
    } else {
      throw new TypeError('delete needs ids or a filter');
    }
  }

  static override async fromTexts(texts: string[], metadatas: object[] | object, embeddings: EmbeddingsInterface, args: VicinityStoreArgs): Promise<VicinityVectorStore> {
    const documents = texts.map((pageContent, i) => new Document({
      pageContent,
      metadata: (Array.isArray(metadatas) ? metadatas[i] : metadatas) as Record<string, unknown> ?? {},
    }));
    return VicinityVectorStore.fromDocuments(documents, embeddings, args);
  }

  static override async fromDocuments(documents: DocumentInterface[], embeddings: EmbeddingsInterface, args: VicinityStoreArgs): Promise<VicinityVectorStore> {
    const store = new VicinityVectorStore(embeddings, args);
    await store.addDocuments(documents);
    return store;
  }

  /** A store over a collection that must exist already (a `VicinityError` with `VDB_ERR_COLLECTION_NOT_FOUND` otherwise). */
  static async fromExistingCollection(embeddings: EmbeddingsInterface, args: VicinityStoreArgs): Promise<VicinityVectorStore> {
    const store = new VicinityVectorStore(embeddings, args);
    await store.#metricOf();
    return store;
  }

  #payload(document: DocumentInterface): Payload {
    const metadata = (document.metadata ?? {}) as Payload;
    if (Object.hasOwn(metadata, this.textKey)) {
      throw new TypeError(`document metadata has a field '${this.textKey}', where the store keeps the page content: rename it, or set textKey`);
    }
    return { ...metadata, [this.textKey]: document.pageContent };
  }

  #document(hit: SearchHit): Document {
    const { [this.textKey]: text, ...metadata } = hit.payload ?? {};
    return new Document({ pageContent: typeof text === 'string' ? text : '', metadata, id: String(hit.id) });
  }

  async #metricOf(): Promise<Metric> {
    this.#metric ??= (await this.client.getCollection(this.collection)).metric;
    return this.#metric;
  }

  /** Creates the collection on the first write when it does not exist. */
  async #ensureCollection(dimension: number): Promise<void> {
    if (this.#metric !== null) return;
    try {
      await this.#metricOf();
    } catch (err) {
      if (!(err instanceof VicinityError) || err.code !== 'VDB_ERR_COLLECTION_NOT_FOUND') throw err;
      const spec: CollectionSpec = { metric: 'cosine', ...this.#spec, dimension };
      this.#metric = (await this.client.createCollection(this.collection, spec)).collection.metric;
    }
  }
}

/** LangChain's score, higher is closer, from the server's distance. */
function score(metric: Metric, distance: number): number {
  return metric === 'l2' ? 1 / (1 + distance) : 1 - distance;
}
