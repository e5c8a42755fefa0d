import { StorageErrors } from './errors.ts';

/** A JSON scalar: the only kind of operand a `where` filter compares against. */
export type Scalar = string | number | boolean | null;

/**
 * A parsed, validated `where` filter. `$eq` is `in` with one value, `$ne` and `$nin` are `not`
 * around `in` (so a missing field matches them), and an empty filter is `and` with no children.
 */
export type WhereNode =
  | { readonly kind: 'and' | 'or'; readonly children: readonly WhereNode[] }
  | { readonly kind: 'not'; readonly child: WhereNode }
  | { readonly kind: 'in'; readonly path: readonly string[]; readonly values: readonly Scalar[] }
  | { readonly kind: 'cmp'; readonly path: readonly string[]; readonly op: CmpOp; readonly value: string | number }
  | { readonly kind: 'exists'; readonly path: readonly string[]; readonly exists: boolean };

type CmpOp = '>' | '>=' | '<' | '<=';

/** Filter objects nested inside each other through `$and`/`$or`/`$not`, the top level being 1. */
export const MAX_WHERE_DEPTH = 16;
/** Field operators, `$and`/`$or`/`$not` and empty filters, counted together. */
export const MAX_WHERE_CONDITIONS = 256;
/** Items of one `$in`/`$nin` list. */
export const MAX_WHERE_IN_ITEMS = 1024;
/** Operand values across the whole filter; with the limits above this keeps SQL parameters far below 32,766. */
export const MAX_WHERE_VALUES = 4096;

const CMP_OPS: Readonly<Record<string, CmpOp>> = { $gt: '>', $gte: '>=', $lt: '<', $lte: '<=' };
const FIELD_OPS = '$eq $ne $gt $gte $lt $lte $in $nin $exists';

interface Budget {
  conditions: number;
  values: number;
}

/** Validates a user `where` object; throws `VDB_ERR_WHERE_INVALID` (400) naming the path at fault. */
export function parseWhere(input: unknown): WhereNode {
  return parseFilter(input, 'where', 1, { conditions: 0, values: 0 });
}

function parseFilter(input: unknown, at: string, depth: number, budget: Budget): WhereNode {
  if (!isPlainObject(input)) fail(at, `a filter must be an object, got ${describe(input)}`);
  if (depth > MAX_WHERE_DEPTH) fail(at, `filters nest deeper than ${MAX_WHERE_DEPTH} levels; flatten the $and/$or/$not nesting`);
  const keys = Object.keys(input);
  if (keys.length === 0) {
    spend(budget, at, 1, 0);
    return { kind: 'and', children: [] };
  }
  const parts = keys.map((key) => parseEntry(key, input[key], at, depth, budget));
  return parts.length === 1 ? parts[0] : { kind: 'and', children: parts };
}

function parseEntry(key: string, value: unknown, at: string, depth: number, budget: Budget): WhereNode {
  const here = childPath(at, key);
  if (key === '$and' || key === '$or') {
    spend(budget, here, 1, 0);
    if (!Array.isArray(value) || value.length === 0) fail(here, 'must be a non-empty array of filters');
    const children = value.map((item, i) => parseFilter(item, `${here}[${i}]`, depth + 1, budget));
    return { kind: key === '$and' ? 'and' : 'or', children };
  }
  if (key === '$not') {
    spend(budget, here, 1, 0);
    if (!isPlainObject(value)) fail(here, `takes one filter object, got ${describe(value)}`);
    return { kind: 'not', child: parseFilter(value, here, depth + 1, budget) };
  }
  // Operator-looking keys at filter level are almost always mistakes ({"$eq": 1}, {"$nor": […]}), so they
  // are refused rather than read as field names; "$.a" or "a.$b" still address fields.
  if (/^\$[A-Za-z]+$/.test(key)) {
    const hint = FIELD_OPS.split(' ').includes(key) ? `; field operators go inside a field: {"field": {"${key}": …}}` : '';
    fail(here, `unknown operator ${key} at filter level (use $and $or $not)${hint}`);
  }
  const path = key.split('.');
  if (path.includes('')) fail(here, 'a field path must not have empty segments; put dots only between key names');
  return parseField(path, value, here, budget);
}

function parseField(path: string[], spec: unknown, at: string, budget: Budget): WhereNode {
  if (Array.isArray(spec)) fail(at, 'an array is not a value to compare with; use {"$in": […]} to match any of several values');
  if (!isPlainObject(spec)) return parseOperator(path, '$eq', spec, at, budget);
  const ops = Object.keys(spec);
  if (ops.length === 0) fail(at, `give a value or an operator object such as {"$eq": …}, got {}`);
  const parts = ops.map((op) => parseOperator(path, op, spec[op], at, budget));
  return parts.length === 1 ? parts[0] : { kind: 'and', children: parts };
}

function parseOperator(path: string[], op: string, operand: unknown, at: string, budget: Budget): WhereNode {
  switch (op) {
    case '$eq':
    case '$ne': {
      spend(budget, at, 1, 1);
      const node: WhereNode = { kind: 'in', path, values: [scalarOperand(operand, at, op)] };
      return op === '$eq' ? node : { kind: 'not', child: node };
    }
    case '$gt':
    case '$gte':
    case '$lt':
    case '$lte': {
      spend(budget, at, 1, 1);
      if (typeof operand !== 'string' && !isFiniteNumber(operand)) {
        fail(at, `${op} takes a number or a string, got ${describe(operand)}`);
      }
      return { kind: 'cmp', path, op: CMP_OPS[op], value: operand };
    }
    case '$in':
    case '$nin': {
      if (!Array.isArray(operand)) fail(at, `${op} takes an array of strings, numbers, booleans or nulls, got ${describe(operand)}`);
      if (operand.length > MAX_WHERE_IN_ITEMS) fail(at, `${op} takes at most ${MAX_WHERE_IN_ITEMS} items, got ${operand.length}`);
      spend(budget, at, 1, operand.length);
      const values = operand.map((item, i) => scalarOperand(item, at, `${op} item ${i}`));
      const node: WhereNode = { kind: 'in', path, values };
      return op === '$in' ? node : { kind: 'not', child: node };
    }
    case '$exists':
      spend(budget, at, 1, 0);
      if (typeof operand !== 'boolean') fail(at, `$exists takes true or false, got ${describe(operand)}`);
      return { kind: 'exists', path, exists: operand };
    default: {
      const nested = op.startsWith('$') ? '' : `; to address a nested key use a dotted path like "${path.join('.')}.${op}"`;
      fail(at, `unknown operator ${op} (use ${FIELD_OPS})${nested}`);
    }
  }
}

function scalarOperand(value: unknown, at: string, what: string): Scalar {
  if (value === null || typeof value === 'string' || typeof value === 'boolean' || isFiniteNumber(value)) return value;
  fail(at, `${what} takes a string, a finite number, a boolean or null, got ${describe(value)}`);
}

function spend(budget: Budget, at: string, conditions: number, values: number): void {
  budget.conditions += conditions;
  budget.values += values;
  if (budget.conditions > MAX_WHERE_CONDITIONS) {
    fail(at, `where has more than ${MAX_WHERE_CONDITIONS} conditions (each field operator, $and, $or, $not and {} counts one); use $in or split the request`);
  }
  if (budget.values > MAX_WHERE_VALUES) fail(at, `where has more than ${MAX_WHERE_VALUES} operand values in total; split the request`);
}

function fail(at: string, message: string): never {
  throw new StorageErrors.WhereInvalid(`${at}: ${message}`);
}

function childPath(at: string, key: string): string {
  return /^[\w$.-]+$/.test(key) ? `${at}.${key}` : `${at}[${JSON.stringify(key)}]`;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'number' && !Number.isFinite(value)) return String(value);
  return typeof value;
}

function isFiniteNumber(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Compiles a filter to a SQLite boolean expression (always 0 or 1, never NULL) over the JSON text column
 * `payloadColumn`, a trusted identifier such as `p.payload`. Every value and JSON path is a `?` parameter.
 */
export function compileWhere(node: WhereNode, payloadColumn: string): { sql: string; params: unknown[] } {
  if (!/^[A-Za-z_]\w*(\.[A-Za-z_]\w*)?$/.test(payloadColumn)) {
    throw new Error(`payloadColumn must be a plain SQL identifier such as p.payload, got ${JSON.stringify(payloadColumn)}`);
  }
  const params: unknown[] = [];
  const sql = compileNode(node, payloadColumn, params);
  return { sql, params };
}

// Each json_each type maps to one JSON type; e.value of 'true'/'false'/'null' rows is 1/0/NULL, so those match by type alone.
const NUMBER_TYPES = `_w.type IN ('integer', 'real')`;
const TEXT_TYPE = `_w.type = 'text'`;

function compileNode(node: WhereNode, col: string, params: unknown[]): string {
  switch (node.kind) {
    case 'and':
    case 'or': {
      if (node.children.length === 0) return node.kind === 'and' ? '1' : '0';
      const joiner = node.kind === 'and' ? ' AND ' : ' OR ';
      return `(${node.children.map((child) => compileNode(child, col, params)).join(joiner)})`;
    }
    case 'not':
      return `(NOT ${compileNode(node.child, col, params)})`;
    case 'exists':
      params.push(jsonPath(node.path));
      return `(json_type(${col}, ?) IS ${node.exists ? 'NOT ' : ''}NULL)`;
    case 'cmp': {
      const type = typeof node.value === 'number' ? NUMBER_TYPES : TEXT_TYPE;
      return anyElement(node.path, col, params, `${type} AND _w.value ${node.op} ?`, [node.value]);
    }
    case 'in': {
      const numbers = node.values.filter((v) => typeof v === 'number');
      const strings = node.values.filter((v) => typeof v === 'string');
      const tests: string[] = [];
      if (numbers.length > 0) tests.push(`(${NUMBER_TYPES} AND _w.value IN (${placeholders(numbers.length)}))`);
      if (strings.length > 0) tests.push(`(${TEXT_TYPE} AND _w.value IN (${placeholders(strings.length)}))`);
      if (node.values.includes(true)) tests.push(`_w.type = 'true'`);
      if (node.values.includes(false)) tests.push(`_w.type = 'false'`);
      if (node.values.includes(null)) tests.push(`_w.type = 'null'`);
      if (tests.length === 0) return '0';
      return anyElement(node.path, col, params, tests.join(' OR '), [...numbers, ...strings]);
    }
  }
}

/**
 * True when the value at `path` is a scalar passing `test`, or an array with such an element. json_each
 * yields one row for a scalar, the elements of an array, nothing for a missing path, and the members of
 * an object, hence the guard: objects never match. Nested arrays and objects fail every type test.
 */
function anyElement(path: readonly string[], col: string, params: unknown[], test: string, values: unknown[]): string {
  const p = jsonPath(path);
  params.push(p, p, ...values);
  return `(json_type(${col}, ?) IS NOT 'object' AND EXISTS (SELECT 1 FROM json_each(${col}, ?) AS _w WHERE ${test}))`;
}

/** The SQLite JSON path of a dotted field name, as `where` reads it (`a.b` is field `b` inside `a`). */
export function fieldPath(field: string): string {
  return jsonPath(field.split('.'));
}

// Each segment is a quoted JSON-string label, so `"`, `\`, `.`, `[`, `*` and `$` in keys stay literal.
function jsonPath(path: readonly string[]): string {
  return `$${path.map((segment) => `.${JSON.stringify(segment)}`).join('')}`;
}

function placeholders(n: number): string {
  return Array.from({ length: n }, () => '?').join(', ');
}

/** Evaluates a filter against a payload in memory, with exactly the semantics of `compileWhere`. */
export function matchesWhere(node: WhereNode, payload: unknown): boolean {
  switch (node.kind) {
    case 'and':
      return node.children.every((child) => matchesWhere(child, payload));
    case 'or':
      return node.children.some((child) => matchesWhere(child, payload));
    case 'not':
      return !matchesWhere(node.child, payload);
    case 'exists':
      return (lookup(payload, node.path) !== MISSING) === node.exists;
    case 'cmp': {
      const { op, value } = node;
      return anyScalar(lookup(payload, node.path), (s) => typeof s === typeof value && compare(s as string | number, value, op));
    }
    case 'in':
      return anyScalar(lookup(payload, node.path), (s) => node.values.some((v) => v === s));
  }
}

const MISSING = Symbol('missing');

// Only plain objects are descended into, as SQLite's `$."a"."b"` does: "a.b" never reaches into an array.
function lookup(payload: unknown, path: readonly string[]): unknown {
  let current = payload;
  for (const segment of path) {
    if (!isPlainObject(current) || !Object.hasOwn(current, segment)) return MISSING;
    current = current[segment];
  }
  return current === undefined ? MISSING : current;
}

function anyScalar(value: unknown, test: (scalar: Scalar) => boolean): boolean {
  if (Array.isArray(value)) return value.some((element) => isScalar(element) && test(element));
  return isScalar(value) && test(value);
}

function isScalar(value: unknown): value is Scalar {
  return value === null || typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean';
}

// Strings order by UTF-8 bytes, as SQLite's BINARY collation does (JS `<` orders by UTF-16 code units).
function compare(a: string | number, b: string | number, op: CmpOp): boolean {
  const order = typeof a === 'number' ? Math.sign(a - (b as number)) : Buffer.compare(Buffer.from(a), Buffer.from(b as string));
  switch (op) {
    case '>':
      return order > 0;
    case '>=':
      return order >= 0;
    case '<':
      return order < 0;
    case '<=':
      return order <= 0;
  }
}
