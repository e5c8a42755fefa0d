/** vicinity-client: a typed client of the Vicinity REST API (docs/sdk.md). */
export {
  DEFAULT_BATCH_SIZE,
  DEFAULT_URL,
  VicinityClient,
  type ClientOptions,
  type LinkListOptions,
  type OptimizeOptions,
  type ScrollOptions,
  type Signal,
  type UpsertOptions,
  type WaitOptions,
} from './client.ts';
export { VicinityError } from './errors.ts';
export type { ImportOptions, StreamImportOptions } from './imports.ts';
export type { TransportKind } from './transport.ts';
export * from './types.ts';
