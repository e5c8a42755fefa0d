import assert from 'node:assert/strict';
import { test } from 'node:test';
import { codecParamsToBytes, fitCodecParams } from '../../../../index/codec.ts';
import { vectorToBlob } from '../../../../index/vectors.ts';
import { CollectionState } from '../../../../server/engine/collection-state.ts';
import { normaliseConfig } from '../../../../server/engine/collection-config.ts';
import { CollectionModel } from '../../../../server/engine/model.ts';

const config = normaliseConfig({ dimension: 4, metric: 'l2', storage: { codec: 'float8_e4m3' } });
const record = { id: 1, name: 'c', config, liveCount: 0, deletedCount: 0, nextLabel: 0 };
const unfitted = new CollectionModel(config, { codec: null, pca: null, pcaVersion: 0 });
const sample = Float32Array.from([1, 2, 3, 4, -1, -2, -3, -4, 0.5, 0.5, 0.5, 0.5]);
const fitted = new CollectionModel(config, { codec: codecParamsToBytes(fitCodecParams('float8_e4m3', sample, 3, 4)), pca: null, pcaVersion: 0 });
const v = Float32Array.from([1, 2, 3, 4]);

test('a fitted codec fills a new store beside the old one; searches are told the format of the store they get', () => {
  const state = new CollectionState(record, unfitted, () => unfitted);
  state.upserted(0, 'a', vectorToBlob(v), { value: null, text: null });
  const before = state.storeSpec;
  assert.equal(before.codec, 'float32');
  assert.equal(state.useModel(fitted), true);
  // The model is float8 now, but the store serving is still the float32 one, and says so.
  assert.deepEqual([state.storeSpec.codec, state.storeSpec.generation, state.storeSpec.params], ['float32', before.generation, null]);
  assert.deepEqual(state.vectors.get(0), v);
  state.upserted(0, 'a', fitted.encode(v).bytes, { value: null, text: null });
  state.storeFilled();
  const after = state.storeSpec;
  assert.equal(after.codec, 'float8_e4m3');
  assert.notEqual(after.generation, before.generation);
  assert.deepEqual(after.params, fitted.codec.params);
  assert.deepEqual(state.vectors.get(0), fitted.decode(fitted.encode(v).bytes));
});

test('bytes a just-committed fit wrote decode with the stored model before this thread takes it', () => {
  const state = new CollectionState(record, unfitted, () => fitted);
  const bytes = fitted.encode(v).bytes;
  assert.equal(bytes.byteLength, 4);
  assert.deepEqual(state.decode(bytes), fitted.decode(bytes));
  assert.deepEqual(state.decode(vectorToBlob(v)), v);
});
