import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { selectAddonPath, type EngineBuild } from './engine.ts';

/** parallel-build.node as loaded: its exports, or null with the reason. */
export interface OwnAddon {
  exports: Record<string, unknown> | null;
  /** The file; null when there is none. */
  path: string | null;
  /** Which build it is, or why there is none. */
  reason: string;
}

const require = createRequire(import.meta.url);
const loaded = new Map<EngineBuild, OwnAddon>();

/**
 * Our own addon (parallel-build.cc and kernels.cc), which build-fast.mjs installs beside the
 * hnswlib-node build `requested` resolves to, compiled with the same flags; loaded once per requested
 * build. The stock build has none.
 */
export function loadOwnAddon(requested: EngineBuild = 'auto'): OwnAddon {
  let result = loaded.get(requested);
  if (result === undefined) {
    result = find(requested);
    loaded.set(requested, result);
  }
  return result;
}

function find(requested: EngineBuild): OwnAddon {
  const choice = selectAddonPath(requested);
  if (choice.path === null) return { exports: null, path: null, reason: `${choice.reason}; our addon comes only with a fast build` };
  const path = join(dirname(choice.path), 'parallel-build.node');
  try {
    return { exports: require(path) as Record<string, unknown>, path, reason: `${choice.build} addon at ${path}` };
  } catch (err) {
    return { exports: null, path: null, reason: `${path} did not load (${err instanceof Error ? err.message.split('\n')[0] : String(err)})` };
  }
}
