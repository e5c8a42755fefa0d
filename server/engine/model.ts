import { codecParamsFromBytes, codecParamsToBytes, fitCodecParams, needsParams, VectorCodec } from '../../index/codec.ts';
import { normalized } from '../../index/distance.ts';
import { fitPca, pcaFromBytes, pcaToBytes, project, sampleRows, type Pca } from '../../index/pca.ts';
import type { Metric } from '../../index/vector-index.ts';
import type { CollectionConfig } from '../../storage/collections.ts';
import type { ModelRow, ModelUpdate } from '../../storage/models.ts';

/** Points a fit samples at most (PCA's covariance costs sample × dimension²). */
export const FIT_SAMPLE = 8192;
/** A float8 or int8 collection written by upserts fits its codec once it holds this many points. */
export const CODEC_FIT_AT = 1024;
const FIT_SEED = 0x5eed;

/**
 * How one collection turns vectors into what it stores and what its index holds (arXiv 2505.00105):
 * the codec (its float8 or int8 params, once fitted) and PCA (once fitted). Under cosine, compressed
 * codecs store the normalised vector. Until a float8 or int8 codec is fitted, rows are stored as float32;
 * until PCA is fitted, the index holds the full vectors.
 */
export class CollectionModel {
  readonly config: CollectionConfig;
  /** The codec in effect: float32 while a float8 or int8 codec waits for its fit. */
  readonly codec: VectorCodec;
  readonly pca: Pca | null;
  /** PCA fits so far; the version an index's snapshot must match. */
  readonly version: number;
  readonly #out: Float32Array;

  constructor(config: CollectionConfig, row: ModelRow) {
    const { codec, pca_dimension } = config.storage;
    const d = config.dimension;
    this.config = config;
    if (needsParams(codec)) {
      this.codec = row.codec ? new VectorCodec(codec, d, codecParamsFromBytes(row.codec, d)) : new VectorCodec('float32', d);
    } else {
      this.codec = new VectorCodec(codec, d);
    }
    this.pca = pca_dimension !== undefined && row.pca ? pcaFromBytes(row.pca) : null;
    this.version = this.pca ? row.pcaVersion : 0;
    this.#out = new Float32Array(this.pca?.outputDimension ?? d);
  }

  /** True while a part of the configured model has not been fitted. */
  get pending(): { codec: boolean; pca: boolean } {
    return {
      codec: needsParams(this.config.storage.codec) && this.codec.name === 'float32',
      pca: this.config.storage.pca_dimension !== undefined && !this.pca,
    };
  }

  /** Under cosine, compressed codecs store unit vectors. */
  #prepare(v: Float32Array): Float32Array {
    return this.config.metric === 'cosine' && this.codec.name !== 'float32' ? normalized(v) : v;
  }

  /** The bytes stored for a validated input vector, and how many values saturated. */
  encode(v: Float32Array): { bytes: Buffer; saturated: number } {
    return this.codec.encode(this.#prepare(v));
  }

  decode(bytes: Uint8Array): Float32Array {
    return this.codec.decode(bytes);
  }

  /**
   * The vector these bytes stand for once stored under this model: decoded, or, for float32
   * bytes staged before the codec was fitted, what re-encoding them will store.
   */
  storedValue(bytes: Uint8Array): Float32Array {
    if (bytes.byteLength === this.codec.bytesPerVector) return this.codec.decode(bytes);
    return this.decode(this.encode(this.codec.decode(bytes)).bytes);
  }

  /** The index's dimension and metric: PCA's output searched with l2, or the collection's own. */
  get index(): { dimension: number; metric: Metric } {
    return this.pca ? { dimension: this.pca.outputDimension, metric: 'l2' } : { dimension: this.config.dimension, metric: this.config.metric };
  }

  /**
   * What the index holds for a stored vector (decoded) or searches for a query: the vector
   * itself, or its PCA projection (of the unit vector under cosine). Reuses one buffer: copy it to keep it.
   */
  toIndex(v: Float32Array): Float32Array {
    if (!this.pca) return v;
    return project(this.pca, this.config.metric === 'cosine' ? normalized(v) : v, this.#out);
  }
}

/**
 * Fits the asked-for parts on a sample of vectors as stored so far (decoded, row-major): the
 * float8 or int8 codec's params (only while not fitted: they are fixed once rows use them), then PCA on
 * the sample as the codec stores it.
 */
export function fitModel(model: CollectionModel, sample: Float32Array, n: number, parts: { codec: boolean; pca: boolean }): ModelUpdate {
  const { config } = model;
  const d = config.dimension;
  const update: ModelUpdate = {};
  const pending = { codec: parts.codec && model.pending.codec, pca: parts.pca && config.storage.pca_dimension !== undefined };
  const prepared = new Float32Array(n * d);
  for (let i = 0; i < n; i++) {
    const v = sample.subarray(i * d, (i + 1) * d);
    prepared.set(config.metric === 'cosine' && config.storage.codec !== 'float32' ? normalized(v) : v, i * d);
  }
  let codec = model.codec;
  if (pending.codec) {
    const params = fitCodecParams(config.storage.codec, prepared, n, d);
    update.codec = codecParamsToBytes(params);
    codec = new VectorCodec(config.storage.codec, d, params);
  }
  const k = config.storage.pca_dimension;
  if (k !== undefined && pending.pca) {
    const stored = new Float32Array(n * d);
    for (let i = 0; i < n; i++) {
      const v = codec.roundTrip(prepared.subarray(i * d, (i + 1) * d));
      stored.set(config.metric === 'cosine' ? normalized(v) : v, i * d);
    }
    update.pca = Buffer.from(pcaToBytes(fitPca(stored, n, d, k)));
  }
  return update;
}

/** Which of `n` rows a fit samples: all of them up to FIT_SAMPLE, else a seeded uniform sample. */
export function fitRows(n: number): Uint32Array {
  return sampleRows(n, FIT_SAMPLE, FIT_SEED);
}
