import { createRequire } from 'node:module';
import type hnswlib from 'hnswlib-node';
import { selectAddonPath, type EngineBuild, type EngineChoice, type ResolvedBuild } from './engine.ts';

/** hnswlib-node's module: the stock package or a faster build of the same addon. */
export type Hnswlib = typeof hnswlib;

export interface LoadedHnswlib {
  lib: Hnswlib;
  build: ResolvedBuild;
  /** The addon file loaded; null for the stock package. */
  path: string | null;
  reason: string;
}

const require = createRequire(import.meta.url);
const loaded = new Map<EngineBuild, LoadedHnswlib>();

/**
 * Loads the addon for `choice`, or the stock package (with the reason) when the file will not load.
 * Exported for tests; use `loadHnswlib`.
 */
export function loadAddon(choice: EngineChoice): LoadedHnswlib {
  let reason = choice.reason;
  if (choice.path !== null) {
    try {
      const lib = require(choice.path) as Partial<Hnswlib>;
      if (typeof lib.HierarchicalNSW === 'function') return { lib: lib as Hnswlib, build: choice.build, path: choice.path, reason };
      reason = `${choice.path} has no HierarchicalNSW: stock build`;
    } catch (err) {
      reason = `${choice.path} did not load (${err instanceof Error ? err.message.split('\n')[0] : String(err)}): stock build`;
    }
  }
  return { lib: require('hnswlib-node') as Hnswlib, build: 'stock', path: null, reason };
}

/**
 * The hnswlib-node module this process uses, chosen once per requested build (see `selectAddonPath`)
 * and cached. Each worker thread calls it itself, with the build its parent was configured with.
 */
export function loadHnswlib(requested: EngineBuild = 'auto'): LoadedHnswlib {
  let result = loaded.get(requested);
  if (result === undefined) {
    result = loadAddon(selectAddonPath(requested));
    loaded.set(requested, result);
  }
  return result;
}
