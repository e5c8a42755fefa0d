import { InvalidArgumentError, Option } from 'commander';
import { DEFAULT_URL } from '../client/src/index.ts';
import type { BuildOrder } from '../client/src/index.ts';

/** A command line that cannot work as given: printed as `error: …`, exit code 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** `--api-key`, shared by every client command; `VICINITY_API_KEY` is its environment fallback. */
export function apiKeyOption(): Option {
  return new Option('--api-key <key>', 'API key of the server (sent as Authorization: Bearer)').env('VICINITY_API_KEY');
}

/** `--url`, shared by every client command; `VICINITY_URL` is its environment fallback. */
export function urlOption(): Option {
  return new Option('--url <url>', 'server URL').env('VICINITY_URL').default(DEFAULT_URL).argParser(httpUrl);
}

export function httpUrl(text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new InvalidArgumentError('must be an http:// or https:// URL, like http://127.0.0.1:7373');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new InvalidArgumentError('must be an http:// or https:// URL, like http://127.0.0.1:7373');
  }
  return text;
}

/** Commander argument parsers: each throws `InvalidArgumentError`, which commander reports as a usage error. */
export function positiveInt(text: string): number {
  const n = integer(text);
  if (n < 1) throw new InvalidArgumentError('must be a positive integer');
  return n;
}

export function nonNegativeInt(text: string): number {
  const n = integer(text);
  if (n < 0) throw new InvalidArgumentError('must be a non-negative integer');
  return n;
}

function integer(text: string): number {
  const n = Number(text);
  if (!/^-?\d+$/.test(text.trim()) || !Number.isSafeInteger(n)) throw new InvalidArgumentError('must be an integer');
  return n;
}

/** `--vector '[0.1, 0.2]'`: a non-empty JSON array of finite numbers. */
export function jsonVector(text: string): number[] {
  const value = parseJson(text);
  if (!Array.isArray(value) || value.length === 0 || !value.every((v) => typeof v === 'number' && Number.isFinite(v))) {
    throw new InvalidArgumentError('must be a JSON array of numbers, like [0.1, 0.2, 0.3]');
  }
  return value as number[];
}

/** `--where '{"lang": "en"}'`: a JSON object. */
export function jsonObject(text: string): Record<string, unknown> {
  const value = parseJson(text);
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new InvalidArgumentError('must be a JSON object, like {"lang": "en"}');
  }
  return value as Record<string, unknown>;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new InvalidArgumentError(`is not valid JSON: ${(err as Error).message}`);
  }
}

/** A build order as the server accepts it. */
export function buildOrderArg(value: string): BuildOrder {
  if (/^(auto|given|random|lid_desc|lid_asc|by_payload:\S{1,256})$/.test(value)) return value as BuildOrder;
  throw new InvalidArgumentError('expected auto, given, random, lid_desc, lid_asc or by_payload:<field>');
}
