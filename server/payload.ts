/**
 * Payload objects and arrays nested in each other at most this deep by default
 * (VICINITY_MAX_PAYLOAD_DEPTH), the payload itself being the first level. SQLite's JSON functions
 * refuse nesting past 1,000 levels: one such payload would break every SQL filter of its collection,
 * so deeper payloads are refused at the door (upserts and imports), and the setting stops at 500.
 */
export const MAX_PAYLOAD_DEPTH = 64;
export const PAYLOAD_DEPTH_CEILING = 500;

/**
 * What makes `value` unfit to store as a payload, or null: a value JSON cannot hold (MessagePack
 * binary, timestamps, NaN or ±Infinity, class instances) or nesting deeper than MAX_PAYLOAD_DEPTH.
 * `path` names the value in the message (`payload.a[3].b`).
 */
export function payloadProblem(value: unknown, path: string, maxDepth = MAX_PAYLOAD_DEPTH, depth = 1): string | null {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return null;
  if (typeof value === 'number') return Number.isFinite(value) ? null : `${path} is ${value}, which JSON cannot hold`;
  if (depth > maxDepth) return `${path} is nested more than ${maxDepth} levels deep (VICINITY_MAX_PAYLOAD_DEPTH); flatten the payload`;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const problem = payloadProblem(value[i], `${path}[${i}]`, maxDepth, depth + 1);
      if (problem) return problem;
    }
    return null;
  }
  if (typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    for (const [k, v] of Object.entries(value)) {
      const problem = payloadProblem(v, `${path}.${k}`, maxDepth, depth + 1);
      if (problem) return problem;
    }
    return null;
  }
  return `${path} is ${describe(value)}, which JSON cannot hold`;
}

function describe(value: unknown): string {
  if (value instanceof Uint8Array) return 'binary data';
  if (typeof value === 'object') return value?.constructor?.name ?? 'an object';
  return typeof value;
}
