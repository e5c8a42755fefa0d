import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { components } from '../../../client/src/generated/openapi.ts';
import type * as sdk from '../../../client/src/types.ts';

/**
 * The SDK's hand-written types against the types generated from the server's OpenAPI document: a
 * request the SDK can send is one the server's schema accepts and back, and an answer the schema
 * allows fits the SDK's type. `npm run check` compiles this file, so a drift fails CI there; the test
 * below only reports the same verdicts at run time.
 */
type Schemas = components['schemas'];
/** JSON carries vectors as numbers; the SDK also takes a Float32Array (float32 bytes over MessagePack). */
type Json<T> = T extends { vector: sdk.Vector } ? Omit<T, 'vector'> & { vector: number[] } : T;
type Fits<A, B> = [A] extends [B] ? true : false;
/**
 * The document types `build_order` as a string (`by_payload:<field>` is a pattern); the SDK as the
 * union of its values. Compared apart: every SDK value is a string the pattern must accept.
 */
type Orders<T> = Without<T, 'build_order'>;
/** T's named fields other than K: without its index signature, which would make every comparison pass. */
type Without<T, K extends string = never> = { [P in keyof T as string extends P ? never : number extends P ? never : P extends K ? never : P]: T[P] };
type Same<A, B> = Fits<A, B> extends true ? Fits<B, A> : false;

const requests: Record<string, true> = {
  createCollection: true satisfies Same<Orders<sdk.CollectionSpec>, Orders<Schemas['CreateCollectionRequest']>>,
  buildOrder: true satisfies Fits<sdk.BuildOrder, Schemas['CreateCollectionRequest']['build_order']>,
  upsert: true satisfies Same<{ points: Json<sdk.Point>[] }, Schemas['UpsertPointsRequest']>,
  search: true satisfies Same<Json<sdk.SearchRequest>, Schemas['SearchRequest']>,
  putLinks: true satisfies Same<{ links: sdk.Link[] }, Schemas['PutLinksRequest']>,
};

const answers: Record<string, true> = {
  // `config` is an open object in the document (the configuration with its defaults filled in).
  collection: true satisfies Fits<Without<Schemas['Collection'], 'config'>, Without<sdk.Collection, 'config'>>,
  search: true satisfies Fits<Schemas['SearchAnswer'], sdk.SearchAnswer>,
  batch: true satisfies Fits<Schemas['BatchAnswer'], sdk.BatchSearchAnswer>,
  point: true satisfies Fits<Schemas['Point'], sdk.StoredPoint>,
  link: true satisfies Fits<Schemas['LinkPage']['links'][number], sdk.StoredLink>,
  neighbour: true satisfies Fits<Schemas['Neighbours']['neighbours'][number], sdk.Neighbour>,
  importAccepted: true satisfies Fits<Schemas['ImportAccepted'], sdk.ImportAccepted>,
  job: true satisfies Fits<Orders<Schemas['Job']>, Orders<sdk.Job>>,
  backup: true satisfies Fits<Schemas['Backup'], Without<sdk.Backup>>,
};

test('the SDK\'s request and answer types agree with the types generated from the OpenAPI document', () => {
  for (const [name, agrees] of Object.entries({ ...requests, ...answers })) assert.equal(agrees, true, name);
});
