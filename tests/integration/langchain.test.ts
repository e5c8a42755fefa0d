import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { Document } from '@langchain/core/documents';
import { Embeddings } from '@langchain/core/embeddings';
import { StringOutputParser } from '@langchain/core/output_parsers';
import { ChatPromptTemplate } from '@langchain/core/prompts';
import { RunnableLambda, RunnablePassthrough, RunnableSequence } from '@langchain/core/runnables';
import { maximalMarginalRelevance } from '@langchain/core/utils/math';
import { VicinityClient, VicinityError } from '../../client/src/index.ts';
import { VicinityVectorStore } from '../../client/src/langchain.ts';
import { embed, EMBEDDING_DIM as DIM, WordEmbeddings } from '../helpers/embeddings.ts';
import { randomVectors } from '../helpers/random.ts';
import { call, startServer, type TestServer } from '../helpers/server.ts';

/** Embeddings whose queries are fixed vectors, for comparing selections on known candidates. */
class FixedQueries extends Embeddings {
  readonly #queries: Map<string, number[]>;

  constructor(queries: Map<string, number[]>) {
    super({});
    this.#queries = queries;
  }

  embedDocuments(): Promise<number[][]> {
    return Promise.reject(new Error('documents are added with their vectors'));
  }

  embedQuery(text: string): Promise<number[]> {
    return Promise.resolve(this.#queries.get(text)!);
  }
}

const CHUNKS = [
  { text: 'Vicinity writes every acknowledged point to SQLite before it answers', topic: 'durability' },
  { text: 'A crash never loses an acknowledged write because the write ahead log is synced', topic: 'durability' },
  { text: 'Searches run in worker threads that each hold a replica of the HNSW index', topic: 'search' },
  { text: 'Filters on payload fields are planned against a payload index', topic: 'search' },
  { text: 'Bulk imports stream numpy files and commit all or nothing', topic: 'imports' },
  { text: 'An import reports its progress, rate and remaining time as a job', topic: 'imports' },
];

function storeArgs(t: TestContext, server: TestServer, collection: string, extra: Record<string, unknown> = {}): { client: VicinityClient; collection: string } {
  const client = new VicinityClient(server.url);
  t.after(() => client.close());
  return { client, collection, ...extra };
}

test('documents go in with their text and metadata, come back by similarity with filters and LangChain scores, and are deleted by id or filter', { timeout: 120_000 }, async (t) => {
  const server = await startServer(t);
  const embeddings = new WordEmbeddings();
  const store = await VicinityVectorStore.fromTexts(
    CHUNKS.map((c) => c.text), CHUNKS.map((c) => ({ topic: c.topic })), embeddings, storeArgs(t, server, 'kb'),
  );
  // The collection was created on the first write, with the embeddings' dimension and cosine.
  const info = await call(server, 'GET', '/v1/collections/kb');
  assert.equal(info.body.dimension, DIM);
  assert.equal(info.body.metric, 'cosine');
  assert.equal(info.body.count, CHUNKS.length);

  const query = 'does a crash lose an acknowledged write';
  const hits = await store.similaritySearchWithScore(query, 3);
  assert.equal(hits.length, 3);
  assert.equal(hits[0][0].pageContent, CHUNKS[1].text);
  assert.deepEqual(hits[0][0].metadata, { topic: 'durability' });
  assert.ok(hits[0][0].id, 'documents carry their point id');
  // Scores are cosine similarities, highest first.
  const q = embed(query);
  for (const [doc, score] of hits) {
    const v = embed(doc.pageContent);
    assert.ok(Math.abs(score - v.reduce((s, x, i) => s + x * q[i], 0)) < 1e-5, `score ${score} is the cosine similarity`);
  }
  for (let i = 1; i < hits.length; i++) assert.ok(hits[i - 1][1] >= hits[i][1]);

  // LangChain's filter argument is Vicinity's where.
  const filtered = await store.similaritySearch(query, 3, { topic: 'imports' });
  assert.equal(filtered.length, 2);
  assert.ok(filtered.every((d) => d.metadata.topic === 'imports'));

  // Ids: given, from the document, or new; the same id again replaces the point.
  const ids = await store.addDocuments([
    new Document({ pageContent: 'Keys have roles: read, write and admin', metadata: { topic: 'ops' }, id: 'keys' }),
    new Document({ pageContent: 'Metrics are served to Prometheus', metadata: { topic: 'ops' } }),
  ], { ids: ['ops-1', 'ops-2'] });
  assert.deepEqual(ids, ['ops-1', 'ops-2']);
  const own = await store.addDocuments([new Document({ pageContent: 'Backups are taken online', metadata: { topic: 'ops' }, id: 'backups' })]);
  assert.deepEqual(own, ['backups']);
  await store.addDocuments([new Document({ pageContent: 'Backups are taken online and restored offline', metadata: { topic: 'ops' }, id: 'backups' })]);
  assert.equal((await call(server, 'GET', '/v1/collections/kb')).body.count, CHUNKS.length + 3);
  assert.equal((await call(server, 'GET', '/v1/collections/kb/points/backups')).body.payload.text, 'Backups are taken online and restored offline');

  await store.delete({ ids: ['ops-1'] });
  await store.delete({ filter: { topic: 'search' } });
  const left = await store.similaritySearch('worker threads payload index keys roles', 20);
  assert.ok(!left.some((d) => d.metadata.topic === 'search' || d.id === 'ops-1'), 'deleted documents are gone');
  assert.equal(left.length, CHUNKS.length + 3 - 3);

  await assert.rejects(store.delete({}), /ids or a filter/);
  await assert.rejects(store.addDocuments([new Document({ pageContent: 'x', metadata: { text: 'clash' } })]), /textKey/);
});

test('fromExistingCollection needs the collection; a custom textKey and l2 scores', { timeout: 60_000 }, async (t) => {
  const server = await startServer(t);
  const embeddings = new WordEmbeddings();
  await assert.rejects(
    VicinityVectorStore.fromExistingCollection(embeddings, storeArgs(t, server, 'missing')),
    (err: unknown) => err instanceof VicinityError && err.code === 'VDB_ERR_COLLECTION_NOT_FOUND',
  );
  assert.equal((await call(server, 'PUT', '/v1/collections/notes', { dimension: DIM, metric: 'l2' })).status, 201);
  const store = await VicinityVectorStore.fromExistingCollection(embeddings, storeArgs(t, server, 'notes', { textKey: 'body' }));
  await store.addDocuments(CHUNKS.map((c) => new Document({ pageContent: c.text, metadata: { topic: c.topic } })));
  const stored = (await call(server, 'POST', '/v1/collections/notes/points/scroll', { limit: 1 })).body.points[0];
  assert.equal(typeof stored.payload.body, 'string');
  const [[doc, score]] = await store.similaritySearchWithScore(CHUNKS[4].text, 1);
  assert.equal(doc.pageContent, CHUNKS[4].text);
  assert.ok(Math.abs(score - 1) < 1e-6, `an exact match scores 1 / (1 + 0), got ${score}`);
  const [, [, farther]] = await store.similaritySearchWithScore(CHUNKS[4].text, 2);
  assert.ok(farther < 1 && farther > 0);
});

test('MMR runs on the server and equals LangChain\'s own maximalMarginalRelevance on the same candidates', { timeout: 120_000 }, async (t) => {
  const server = await startServer(t);
  const dim = 16;
  const vectors = randomVectors(400, dim, 5);
  const queries = new Map(randomVectors(10, dim, 6).map((v, i) => [`q${i}`, v]));
  const store = new VicinityVectorStore(new FixedQueries(queries), storeArgs(t, server, 'mmr', { collectionSpec: { hnsw: { ef_search: 400 } } }));
  await store.addVectors(vectors, vectors.map((_, i) => new Document({ pageContent: `doc ${i}`, metadata: { i } })), { ids: vectors.map((_, i) => `d${i}`) });
  const unit = (v: number[]): number[] => {
    const n = Math.hypot(...v);
    return v.map((x) => x / n);
  };
  for (const [text, q] of queries) {
    for (const { k, fetchK, lambda } of [{ k: 5, fetchK: 20, lambda: 0.5 }, { k: 8, fetchK: 40, lambda: 0.3 }, { k: 4, fetchK: 4, lambda: 0.9 }]) {
      const candidates = await store.similaritySearchVectorWithScore(q, fetchK);
      const candidateVectors = candidates.map(([d]) => unit(vectors[d.metadata.i as number]));
      const expected = maximalMarginalRelevance(unit(q), candidateVectors, lambda, k).map((i) => candidates[i][0].id);
      const got = (await store.maxMarginalRelevanceSearch(text, { k, fetchK, lambda })).map((d) => d.id);
      assert.deepEqual(got, expected, `${text} k ${k} fetchK ${fetchK} λ ${lambda}`);
    }
  }
  // Through a retriever, with a filter.
  const retriever = store.asRetriever({ k: 5, searchType: 'mmr', searchKwargs: { fetchK: 30, lambda: 0.5 }, filter: { i: { $lt: 200 } } });
  const docs = await retriever.invoke('q0');
  assert.equal(docs.length, 5);
  assert.ok(docs.every((d) => (d.metadata.i as number) < 200));
});

test('a retrieval chain from @langchain/core runs end to end over the store', { timeout: 60_000 }, async (t) => {
  const server = await startServer(t);
  const store = await VicinityVectorStore.fromDocuments(
    CHUNKS.map((c) => new Document({ pageContent: c.text, metadata: { topic: c.topic } })), new WordEmbeddings(), storeArgs(t, server, 'chain'),
  );
  const prompt = ChatPromptTemplate.fromTemplate('Answer from the context.\nContext:\n{context}\nQuestion: {question}');
  // The "model" repeats its prompt: what reached it shows the retrieved context did.
  const model = RunnableLambda.from((value: { toString(): string }) => value.toString());
  const chain = RunnableSequence.from([
    { context: store.asRetriever(2).pipe((docs: Document[]) => docs.map((d) => d.pageContent).join('\n')), question: new RunnablePassthrough() },
    prompt,
    model,
    new StringOutputParser(),
  ]);
  const answer = await chain.invoke('how do bulk imports commit numpy files');
  assert.match(answer, /Question: how do bulk imports commit numpy files/);
  assert.ok(answer.includes(CHUNKS[4].text), answer);
});
