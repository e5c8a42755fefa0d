import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import fc from 'fast-check';
import {
  compileWhere,
  matchesWhere,
  parseWhere,
  MAX_WHERE_CONDITIONS,
  MAX_WHERE_DEPTH,
  MAX_WHERE_IN_ITEMS,
  MAX_WHERE_VALUES,
  type WhereNode,
} from '../../../storage/where.ts';

const db = new Database(':memory:');
db.exec('CREATE TABLE p (id INTEGER PRIMARY KEY, payload TEXT)');

/** A payload given as exact JSON text, for what JSON.stringify cannot write (5.0, 1e0). */
class Raw {
  readonly text: string;
  constructor(text: string) {
    this.text = text;
  }
}

// `undefined` stands for a row without payload (SQL NULL).
function storedText(payload: unknown): string | null {
  if (payload instanceof Raw) return payload.text;
  return payload === undefined ? null : JSON.stringify(payload);
}

function jsPayload(payload: unknown): unknown {
  const text = storedText(payload);
  return text === null ? undefined : JSON.parse(text);
}

/** Evaluates the compiled fragment for one row; the fragment must be exactly 0 or 1, never NULL. */
function sqlMatches(node: WhereNode, payload: unknown): boolean {
  const { sql, params } = compileWhere(node, 'p.payload');
  const run = db.transaction(() => {
    const { lastInsertRowid } = db.prepare('INSERT INTO p (payload) VALUES (?)').run(storedText(payload));
    const row = db.prepare(`SELECT ${sql} AS m FROM p WHERE id = ?`).get(...params, lastInsertRowid) as { m: unknown };
    db.prepare('DELETE FROM p WHERE id = ?').run(lastInsertRowid);
    return row.m;
  });
  const m = run();
  assert.ok(m === 0 || m === 1, `fragment evaluated to ${String(m)}`);
  return m === 1;
}

/** Stores `payloads` as rows 1..n and returns the ids the SQL fragment selects, checking matchesWhere agrees. */
function matchedIds(where: unknown, payloads: readonly unknown[]): number[] {
  const node = parseWhere(where);
  const { sql, params } = compileWhere(node, 'p.payload');
  db.exec('DELETE FROM p');
  const insert = db.prepare('INSERT INTO p (id, payload) VALUES (?, ?)');
  payloads.forEach((payload, i) => insert.run(i + 1, storedText(payload)));
  const rows = db.prepare(`SELECT id FROM p WHERE ${sql} ORDER BY id`).all(...params) as { id: number }[];
  const ids = rows.map((r) => r.id);
  const expected = payloads.flatMap((payload, i) => (matchesWhere(node, jsPayload(payload)) ? [i + 1] : []));
  assert.deepEqual(ids, expected, `SQL and matchesWhere disagree on ${JSON.stringify(where)}`);
  return ids;
}

type Row = readonly [where: unknown, payload: unknown, expected: boolean];

// Columns of each operator block: scalar equal, scalar different, other JSON type, array containing,
// array not containing, missing field, explicit null, nested object path, object value.
const truthTable: readonly Row[] = [
  [{ n: { $eq: 5 } }, { n: 5 }, true],
  [{ n: { $eq: 5 } }, { n: 7 }, false],
  [{ n: { $eq: 5 } }, { n: '5' }, false],
  [{ n: { $eq: 5 } }, { n: [1, 5] }, true],
  [{ n: { $eq: 5 } }, { n: [1, 2] }, false],
  [{ n: { $eq: 5 } }, {}, false],
  [{ n: { $eq: 5 } }, { n: null }, false],
  [{ 'a.n': { $eq: 5 } }, { a: { n: 5 } }, true],
  [{ n: { $eq: 5 } }, { n: { x: 5 } }, false],

  [{ n: { $ne: 5 } }, { n: 5 }, false],
  [{ n: { $ne: 5 } }, { n: 7 }, true],
  [{ n: { $ne: 5 } }, { n: '5' }, true],
  [{ n: { $ne: 5 } }, { n: [1, 5] }, false],
  [{ n: { $ne: 5 } }, { n: [1, 2] }, true],
  [{ n: { $ne: 5 } }, {}, true],
  [{ n: { $ne: 5 } }, { n: null }, true],
  [{ 'a.n': { $ne: 5 } }, { a: { n: 5 } }, false],
  [{ n: { $ne: 5 } }, { n: { x: 5 } }, true],

  [{ n: { $gt: 5 } }, { n: 5 }, false],
  [{ n: { $gt: 5 } }, { n: 7 }, true],
  [{ n: { $gt: 5 } }, { n: '7' }, false],
  [{ n: { $gt: 5 } }, { n: [1, 7] }, true],
  [{ n: { $gt: 5 } }, { n: [1, 2] }, false],
  [{ n: { $gt: 5 } }, {}, false],
  [{ n: { $gt: 5 } }, { n: null }, false],
  [{ 'a.n': { $gt: 5 } }, { a: { n: 7 } }, true],
  [{ n: { $gt: 5 } }, { n: { x: 7 } }, false],

  [{ n: { $gte: 5 } }, { n: 5 }, true],
  [{ n: { $gte: 5 } }, { n: 4 }, false],
  [{ n: { $gte: 5 } }, { n: true }, false],
  [{ n: { $gte: 5 } }, { n: [1, 5] }, true],
  [{ n: { $gte: 5 } }, { n: [1, 2] }, false],
  [{ n: { $gte: 5 } }, {}, false],
  [{ n: { $gte: 5 } }, { n: null }, false],
  [{ 'a.n': { $gte: 5 } }, { a: { n: 5 } }, true],
  [{ n: { $gte: 5 } }, { n: { x: 5 } }, false],

  [{ n: { $lt: 5 } }, { n: 5 }, false],
  [{ n: { $lt: 5 } }, { n: 2 }, true],
  [{ n: { $lt: 5 } }, { n: '2' }, false],
  [{ n: { $lt: 5 } }, { n: [9, 2] }, true],
  [{ n: { $lt: 5 } }, { n: [9, 8] }, false],
  [{ n: { $lt: 5 } }, {}, false],
  [{ n: { $lt: 5 } }, { n: null }, false],
  [{ 'a.n': { $lt: 5 } }, { a: { n: 2 } }, true],
  [{ n: { $lt: 5 } }, { n: { x: 2 } }, false],

  [{ n: { $lte: 5 } }, { n: 5 }, true],
  [{ n: { $lte: 5 } }, { n: 6 }, false],
  [{ n: { $lte: 5 } }, { n: false }, false],
  [{ n: { $lte: 5 } }, { n: [9, 5] }, true],
  [{ n: { $lte: 5 } }, { n: [9, 8] }, false],
  [{ n: { $lte: 5 } }, {}, false],
  [{ n: { $lte: 5 } }, { n: null }, false],
  [{ 'a.n': { $lte: 5 } }, { a: { n: 5 } }, true],
  [{ n: { $lte: 5 } }, { n: { x: 5 } }, false],

  [{ n: { $in: [5, 'x'] } }, { n: 5 }, true],
  [{ n: { $in: [5, 'x'] } }, { n: 7 }, false],
  [{ n: { $in: [5, 'x'] } }, { n: '5' }, false],
  [{ n: { $in: [5, 'x'] } }, { n: [9, 'x'] }, true],
  [{ n: { $in: [5, 'x'] } }, { n: [9, 'y'] }, false],
  [{ n: { $in: [5, 'x'] } }, {}, false],
  [{ n: { $in: [5, 'x'] } }, { n: null }, false],
  [{ 'a.n': { $in: [5, 'x'] } }, { a: { n: 'x' } }, true],
  [{ n: { $in: [5, 'x'] } }, { n: { x: 5 } }, false],

  [{ n: { $nin: [5, 'x'] } }, { n: 5 }, false],
  [{ n: { $nin: [5, 'x'] } }, { n: 7 }, true],
  [{ n: { $nin: [5, 'x'] } }, { n: '5' }, true],
  [{ n: { $nin: [5, 'x'] } }, { n: [9, 'x'] }, false],
  [{ n: { $nin: [5, 'x'] } }, { n: [9, 'y'] }, true],
  [{ n: { $nin: [5, 'x'] } }, {}, true],
  [{ n: { $nin: [5, 'x'] } }, { n: null }, true],
  [{ 'a.n': { $nin: [5, 'x'] } }, { a: { n: 'x' } }, false],
  [{ n: { $nin: [5, 'x'] } }, { n: { x: 5 } }, true],

  [{ n: { $exists: true } }, { n: 5 }, true],
  [{ n: { $exists: true } }, { m: 5 }, false],
  [{ n: { $exists: true } }, { n: '' }, true],
  [{ n: { $exists: true } }, { n: [] }, true],
  [{ n: { $exists: true } }, { n: [1] }, true],
  [{ n: { $exists: true } }, {}, false],
  [{ n: { $exists: true } }, { n: null }, true],
  [{ 'a.n': { $exists: true } }, { a: { n: 0 } }, true],
  [{ n: { $exists: true } }, { n: {} }, true],

  [{ n: { $exists: false } }, { n: 5 }, false],
  [{ n: { $exists: false } }, { m: 5 }, true],
  [{ n: { $exists: false } }, { n: false }, false],
  [{ n: { $exists: false } }, { n: [] }, false],
  [{ n: { $exists: false } }, {}, true],
  [{ n: { $exists: false } }, { n: null }, false],
  [{ 'a.n': { $exists: false } }, { a: { m: 0 } }, true],
  [{ 'a.n': { $exists: false } }, { a: 'n' }, true],
  [{ n: { $exists: false } }, { n: { x: 1 } }, false],

  // Strings: same type only, binary UTF-8 order (U+1F600 sorts after U+FF21 in UTF-8, before it in UTF-16).
  [{ s: 'en' }, { s: 'en' }, true],
  [{ s: 'en' }, { s: 'EN' }, false],
  [{ s: { $gt: 'b' } }, { s: 'c' }, true],
  [{ s: { $gt: 'b' } }, { s: 'B' }, false],
  [{ s: { $gt: 'b' } }, { s: 5 }, false],
  [{ s: { $gt: 'z' } }, { s: 'é' }, true],
  [{ s: { $gt: '\uFF21' } }, { s: '😀' }, true],
  [{ s: { $lt: '\uFF21' } }, { s: '😀' }, false],
  [{ s: { $gte: '' } }, { s: '' }, true],
  [{ s: { $lt: 'a' } }, { s: null }, false],
  [{ s: { $eq: '1' } }, { s: 1 }, false],
  [{ s: { $gte: 'ab', $lte: 'ab' } }, { s: 'ab' }, true],

  // Booleans and null.
  [{ b: true }, { b: true }, true],
  [{ b: true }, { b: 1 }, false],
  [{ b: true }, { b: 'true' }, false],
  [{ b: true }, { b: [false, true] }, true],
  [{ b: { $eq: false } }, { b: 0 }, false],
  [{ b: { $eq: false } }, { b: false }, true],
  [{ b: { $ne: false } }, { b: [true] }, true],
  [{ b: { $in: [true] } }, { b: 1 }, false],
  [{ n: null }, { n: null }, true],
  [{ n: null }, {}, false],
  [{ n: null }, { n: [1, null] }, true],
  [{ n: null }, { n: 'null' }, false],
  [{ n: null }, { n: 0 }, false],
  [{ n: null }, { n: false }, false],
  [{ n: { $ne: null } }, {}, true],
  [{ n: { $ne: null } }, { n: null }, false],
  [{ n: { $in: [null] } }, { n: null }, true],
  [{ n: { $nin: [null] } }, { n: [null] }, false],

  // Integers and reals compare numerically.
  [{ n: 5 }, new Raw('{"n":5.0}'), true],
  [{ n: 5.0 }, new Raw('{"n":5}'), true],
  [{ n: 5 }, new Raw('{"n":5e0}'), true],
  [{ n: { $gt: 4.5 } }, { n: 5 }, true],
  [{ n: { $lt: 5 } }, new Raw('{"n":4.99}'), true],
  [{ n: { $in: [1.5, 2] } }, new Raw('{"n":[2.0]}'), true],
  [{ n: { $gte: -1 } }, { n: -0.5 }, true],

  // Elements that are arrays or objects never match scalar operators.
  [{ n: 5 }, { n: [[5]] }, false],
  [{ n: 5 }, { n: [{ x: 5 }] }, false],
  [{ n: { $gt: 0 } }, { n: [[5], { a: 1 }] }, false],
  [{ n: { $ne: 5 } }, { n: [[5]] }, true],
  [{ n: { $in: [5] } }, { n: [] }, false],
  [{ n: { $nin: [5] } }, { n: [] }, true],
  [{ n: { $gt: 0 } }, { n: [1, 'b'] }, true],
  [{ n: { $gt: 'a' } }, { n: [1, 'b'] }, true],
  // Several operators on one field each match independently, as in Mongo: 10 ≥ 1 and 0 < 5.
  [{ n: { $gte: 1, $lt: 5 } }, { n: [0, 10] }, true],
  [{ n: { $gte: 1, $lt: 5 } }, { n: 7 }, false],
  [{ n: { $gte: 1, $lt: 5 } }, { n: 3 }, true],

  // Empty lists.
  [{ n: { $in: [] } }, { n: 5 }, false],
  [{ n: { $in: [] } }, {}, false],
  [{ n: { $nin: [] } }, { n: 5 }, true],
  [{ n: { $nin: [] } }, {}, true],

  // Dotted paths: only objects are descended into, and a dotted key is not a path.
  [{ 'a.b.c': 1 }, { a: { b: { c: 1 } } }, true],
  [{ 'a.b.c': 1 }, { a: { b: { c: [2, 1] } } }, true],
  [{ 'a.b.c': 1 }, { a: [{ b: { c: 1 } }] }, false],
  [{ 'a.b.c': 1 }, { 'a.b.c': 1 }, false],
  [{ 'a.b': { $exists: true } }, { a: [{ b: 1 }] }, false],
  [{ 'a.0': 1 }, { a: [1] }, false],
  [{ 'a.0': 1 }, { a: { 0: 1 } }, true],
  [{ a: 1 }, { a: { b: 1 } }, false],

  // Keys SQLite's JSON path syntax quotes: backslashes, double quotes, control characters, non-ASCII.
  [{ 'c\\d': 1 }, { 'c\\d': 1 }, true],
  [{ 'c\\d': 1 }, { 'c\\\\d': 1 }, false],
  [{ 'c\\d': 1 }, { cd: 1 }, false],
  [{ 'a"b': { $exists: true } }, { 'a"b': 0 }, true],
  [{ 'a"b': { $exists: true } }, { ab: 0 }, false],
  [{ 'k\\': { $gt: 0 } }, { 'k\\': [0, 2] }, true],
  [{ 'c\\d.e"f': 2 }, { 'c\\d': { 'e"f': 2 } }, true],
  [{ 'u\u0001': { $in: ['x'] } }, { 'u\u0001': 'x' }, true],
  [{ 'é\t': { $ne: 1 } }, { 'é\t': 1 }, false],

  // Logical operators, shorthand, several keys and the empty filter.
  [{ $and: [{ a: 1 }, { b: 2 }] }, { a: 1, b: 2 }, true],
  [{ $and: [{ a: 1 }, { b: 2 }] }, { a: 1 }, false],
  [{ $or: [{ a: 1 }, { b: 2 }] }, { b: 2 }, true],
  [{ $or: [{ a: 1 }, { b: 2 }] }, { a: 2, b: 1 }, false],
  [{ $or: [{ a: 1 }, { b: 2 }] }, {}, false],
  [{ $not: { a: 1 } }, { a: 1 }, false],
  [{ $not: { a: 1 } }, { a: 2 }, true],
  [{ $not: { a: 1 } }, {}, true],
  [{ $not: { a: { $gt: 5 } } }, {}, true],
  [{ $not: { $not: { a: 1 } } }, { a: 1 }, true],
  [{ $not: { a: 1, b: 2 } }, { a: 1, b: 3 }, true],
  [{ $not: {} }, { a: 1 }, false],
  [{ lang: 'en' }, { lang: 'en' }, true],
  [{ lang: 'en' }, { lang: ['fr', 'en'] }, true],
  [{ a: 1, b: 2 }, { a: 1, b: 2 }, true],
  [{ a: 1, b: 2 }, { a: 1, b: 3 }, false],
  [{ a: 1, $or: [{ b: 2 }, { c: 3 }] }, { a: 1, c: 3 }, true],
  [{ a: 1, $or: [{ b: 2 }, { c: 3 }] }, { a: 2, c: 3 }, false],
  [{}, {}, true],
  [{}, { a: 1 }, true],
  [{}, undefined, true],

  // A row without payload behaves like {}.
  [{ a: 1 }, undefined, false],
  [{ a: { $ne: 1 } }, undefined, true],
  [{ a: { $nin: [1] } }, undefined, true],
  [{ a: { $exists: false } }, undefined, true],
  [{ a: { $exists: true } }, undefined, false],
  [{ a: { $gt: 0 } }, undefined, false],
];

describe('where truth table', () => {
  for (const [where, payload, expected] of truthTable) {
    const payloadText = storedText(payload) ?? 'no payload';
    it(`${JSON.stringify(where)} on ${payloadText} is ${expected}`, () => {
      const node = parseWhere(where);
      assert.equal(sqlMatches(node, payload), expected, 'SQL');
      assert.equal(matchesWhere(node, jsPayload(payload)), expected, 'matchesWhere');
    });
  }
});

function assertInvalid(input: unknown, message: RegExp): void {
  assert.throws(
    () => parseWhere(input),
    (err: unknown) => {
      const e = err as { code?: unknown; statusCode?: unknown; message?: unknown };
      assert.ok(err instanceof Error);
      assert.equal(e.code, 'VDB_ERR_WHERE_INVALID');
      assert.equal(e.statusCode, 400);
      assert.match(err.message, message);
      return true;
    },
  );
}

function nestedNot(levels: number): unknown {
  let filter: unknown = { a: 1 };
  for (let i = 1; i < levels; i++) filter = { $not: filter };
  return filter;
}

describe('parseWhere validation', () => {
  const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);
  const cases: readonly [name: string, input: unknown, message: RegExp][] = [
    ['unknown field operator', { tags: { $regex: 'x' } }, /^where\.tags: unknown operator \$regex \(use \$eq \$ne \$gt \$gte \$lt \$lte \$in \$nin \$exists\)$/],
    ['nested object as value', { a: { b: 1 } }, /^where\.a: unknown operator b .*dotted path like "a\.b"/],
    ['empty operator object', { a: {} }, /^where\.a: give a value or an operator object/],
    ['object operand', { a: { $eq: { x: 1 } } }, /^where\.a: \$eq takes a string, a finite number, a boolean or null, got object$/],
    ['array operand for $eq', { a: { $eq: [1] } }, /^where\.a: \$eq takes .*got array$/],
    ['array operand for $ne', { a: { $ne: [1] } }, /^where\.a: \$ne takes .*got array$/],
    ['array as shorthand value', { a: [1, 2] }, /^where\.a: an array is not a value .*\$in/],
    ['non-boolean $exists', { a: { $exists: 1 } }, /^where\.a: \$exists takes true or false, got number$/],
    ['$gt with boolean', { lang: { $gt: true } }, /^where\.lang: \$gt takes a number or a string, got boolean$/],
    ['$lte with null', { a: { $lte: null } }, /^where\.a: \$lte takes a number or a string, got null$/],
    ['$in not an array', { a: { $in: 5 } }, /^where\.a: \$in takes an array .*got number$/],
    ['$nin not an array', { a: { $nin: 'x' } }, /^where\.a: \$nin takes an array .*got string$/],
    ['$in with an object item', { a: { $in: [1, {}] } }, /^where\.a: \$in item 1 takes .*got object$/],
    ['$nin with an array item', { a: { $nin: [[1]] } }, /^where\.a: \$nin item 0 takes .*got array$/],
    ['too many $in items', { a: { $in: range(MAX_WHERE_IN_ITEMS + 1) } }, /^where\.a: \$in takes at most 1024 items, got 1025$/],
    ['too many values in total', { $and: range(5).map(() => ({ a: { $in: range(1000) } })) }, /^where\.\$and\[4\]\.a: where has more than 4096 operand values/],
    ['too many conditions', { $and: range(MAX_WHERE_CONDITIONS).map((i) => ({ a: i })) }, /^where\.\$and\[255\]\.a: where has more than 256 conditions/],
    ['too many keys', Object.fromEntries(range(MAX_WHERE_CONDITIONS + 1).map((i) => [`k${i}`, i])), /^where\.k256: where has more than 256 conditions/],
    ['too many empty filters', { $or: range(MAX_WHERE_CONDITIONS).map(() => ({})) }, /more than 256 conditions/],
    ['too deep', nestedNot(MAX_WHERE_DEPTH + 1), /^where(\.\$not){16}: filters nest deeper than 16 levels/],
    ['empty $or', { $or: [] }, /^where\.\$or: must be a non-empty array of filters$/],
    ['$and not an array', { $and: { a: 1 } }, /^where\.\$and: must be a non-empty array of filters$/],
    ['$and with a non-filter', { $and: [{ a: 1 }, 3] }, /^where\.\$and\[1\]: a filter must be an object, got number$/],
    ['$not with an array', { $not: [{ a: 1 }] }, /^where\.\$not: takes one filter object, got array$/],
    ['$not as a field operator', { a: { $not: { $eq: 1 } } }, /^where\.a: unknown operator \$not/],
    ['field operator at filter level', { $eq: 1 }, /^where\.\$eq: unknown operator \$eq at filter level .*field operators go inside a field/],
    ['unknown filter-level operator', { $nor: [{ a: 1 }] }, /^where\.\$nor: unknown operator \$nor at filter level \(use \$and \$or \$not\)$/],
    ['null where', null, /^where: a filter must be an object, got null$/],
    ['array where', [{ a: 1 }], /^where: a filter must be an object, got array$/],
    ['string where', 'lang = en', /^where: a filter must be an object, got string$/],
    ['NaN operand', { a: Number.NaN }, /^where\.a: \$eq takes .*got NaN$/],
    ['Infinity operand', { a: { $gt: Number.POSITIVE_INFINITY } }, /^where\.a: \$gt takes a number or a string, got Infinity$/],
    ['-Infinity in $in', { a: { $in: [Number.NEGATIVE_INFINITY] } }, /^where\.a: \$in item 0 takes .*got -Infinity$/],
    ['empty path segment', { 'a..b': 1 }, /^where\.a\.\.b: a field path must not have empty segments/],
    ['leading dot', { '.a': 1 }, /^where\.\.a: a field path must not have empty segments/],
    ['trailing dot', { 'a.': 1 }, /^where\.a\.: a field path must not have empty segments/],
    ['empty key', { '': 1 }, /^where\[""\]: a field path must not have empty segments/],
    ['unusual key in the path', { 'a b': { $gt: null } }, /^where\["a b"\]: \$gt takes a number or a string, got null$/],
    ['problem deep inside', { $and: [{ a: 1 }, { $or: [{ b: { $gt: true } }] }] }, /^where\.\$and\[1\]\.\$or\[0\]\.b: \$gt takes a number or a string, got boolean$/],
  ];
  for (const [name, input, message] of cases) {
    it(`refuses ${name}`, () => assertInvalid(input, message));
  }

  it('accepts the limits themselves, and SQLite runs the largest filters', () => {
    const deep = parseWhere(nestedNot(MAX_WHERE_DEPTH));
    assert.equal(sqlMatches(deep, { a: 1 }), matchesWhere(deep, { a: 1 }));

    const items = range(MAX_WHERE_IN_ITEMS);
    const inList = parseWhere({ a: { $in: items } });
    assert.equal(sqlMatches(inList, { a: 1023 }), true);

    const allValues = parseWhere({ $and: range(MAX_WHERE_VALUES / MAX_WHERE_IN_ITEMS).map(() => ({ a: { $in: items } })) });
    assert.equal(sqlMatches(allValues, { a: 7 }), true);

    // 1 $or + 3 $in + 252 $gte = 256 conditions, binding 3 × 1,024 + 252 values and 2 paths per condition.
    const widest = parseWhere({
      $or: [
        ...range(3).map(() => ({ a: { $in: items.map((i) => `s${i}`) } })),
        ...range(MAX_WHERE_CONDITIONS - 4).map((i) => ({ [`k${i}`]: { $gte: i } })),
      ],
    });
    assert.equal(sqlMatches(widest, { k251: 251 }), true);
    assert.equal(sqlMatches(widest, { k251: 250 }), false);

    // Deep and wide at once: 15 nested $and levels, each with a long chain of siblings.
    let nested: unknown = { z: 1 };
    for (let level = 1; level < MAX_WHERE_DEPTH; level++) {
      nested = { $and: [nested, ...range(14).map((i) => ({ [`k${i}`]: { $ne: level } }))] };
    }
    const both = parseWhere(nested);
    assert.equal(sqlMatches(both, { z: 1 }), true);
    assert.equal(sqlMatches(both, { z: 1, k3: 7 }), false);
  });
});

describe('compileWhere', () => {
  it('puts no user text into the SQL: every key and value is a parameter', () => {
    const node = parseWhere({
      'zzkey.zzinner': { $in: ['zzvalue', 123456789], $gt: 'zzlow' },
      $or: [{ zzother: { $exists: true } }, { $not: { zzthird: 'zzv' } }],
    });
    const { sql, params } = compileWhere(node, 'p.payload');
    assert.doesNotMatch(sql, /zz|123456789/);
    assert.ok(params.includes('$."zzkey"."zzinner"'));
    assert.ok(params.includes('zzvalue'));
  });

  it('refuses a payload column that is not a plain identifier', () => {
    assert.throws(() => compileWhere(parseWhere({}), 'payload) OR (1'), /payloadColumn must be a plain SQL identifier/);
    assert.doesNotThrow(() => compileWhere(parseWhere({}), 'payload'));
  });
});

describe('where injection attempts', () => {
  const nasty = [
    `'; DROP TABLE p; --`,
    `x") OR 1=1 --`,
    `') OR ('1'='1`,
    `a"b`,
    `a\\b`,
    `\\"`,
    `"`,
    `'`,
    `;`,
    `--`,
    `$`,
    `[0]`,
    `*`,
    `é`,
    `😀`,
    ` spaced key `,
    `tab\tand\nnewline`,
    `__proto__`,
    `constructor`,
  ];
  // Row i + 1 has key nasty[i]; then one row per nasty value under "v"; then rows for the `$.a` path.
  const payloads: unknown[] = [
    ...nasty.map((key) => JSON.parse(`{${JSON.stringify(key)}: "v"}`) as unknown),
    ...nasty.map((value) => ({ v: value })),
    { $: { a: 'v' } },
    { '$.a': 'v' },
    { a: 'v' },
  ];
  const keyRow = (i: number): number => i + 1;
  const valueRow = (i: number): number => nasty.length + i + 1;

  function assertTableIntact(): void {
    assert.ok(db.prepare(`SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'p'`).get());
    assert.equal((db.prepare('SELECT count(*) AS c FROM p').get() as { c: number }).c, payloads.length);
  }

  it('matches hostile keys literally', () => {
    nasty.forEach((key, i) => {
      assert.deepEqual(matchedIds(JSON.parse(`{${JSON.stringify(key)}: "v"}`), payloads), [keyRow(i)], key);
      const holders = payloads.flatMap((payload, row) => (Object.hasOwn(payload as object, key) ? [row + 1] : []));
      assert.deepEqual(matchedIds(JSON.parse(`{${JSON.stringify(key)}: {"$exists": true}}`), payloads), holders, key);
      assert.deepEqual(matchedIds(JSON.parse(`{${JSON.stringify(key)}: {"$in": ["w"]}}`), payloads), [], key);
      assertTableIntact();
    });
  });

  it('matches hostile values literally', () => {
    nasty.forEach((value, i) => {
      assert.deepEqual(matchedIds({ v: value }, payloads), [valueRow(i)], value);
      assert.deepEqual(matchedIds({ v: { $in: [value, 'nothing'] } }, payloads), [valueRow(i)], value);
      assert.deepEqual(matchedIds({ v: { $gte: value, $lte: value } }, payloads), [valueRow(i)], value);
      assertTableIntact();
    });
  });

  it('reads "$.a" as key "a" inside key "$", not as a JSON path', () => {
    assert.deepEqual(matchedIds({ '$.a': 'v' }, payloads), [2 * nasty.length + 1]);
    assertTableIntact();
  });
});

describe('where property: SQL and matchesWhere agree', () => {
  const keyArb = fc.constantFrom('a', 'b', 'c', 'x"y', 'é');
  const scalarArb = fc.oneof(
    fc.constantFrom(null, true, false),
    fc.integer({ min: -2, max: 3 }),
    fc.constantFrom(0.5, 2.5, -1.5),
    fc.constantFrom('', 'a', 'b', 'B', 'ab', 'é', '😀', '\uFF21', '1'),
  );
  const { value: valueArb } = fc.letrec<{ value: unknown }>((tie) => ({
    value: fc.oneof(
      { maxDepth: 3, depthSize: 'small' },
      scalarArb,
      fc.array(fc.oneof(scalarArb, tie('value')), { maxLength: 3 }),
      fc.dictionary(keyArb, tie('value'), { maxKeys: 3 }),
    ),
  }));
  const payloadArb = fc.option(fc.dictionary(keyArb, valueArb, { maxKeys: 4 }), { nil: undefined, freq: 10 });

  const pathArb = fc.array(keyArb, { minLength: 1, maxLength: 2 }).map((keys) => keys.join('.'));
  const orderedArb = fc.oneof(fc.integer({ min: -2, max: 3 }), fc.constantFrom(0.5, 'a', 'b', 'é', '\uFF21', ''));
  const operatorArb = fc.oneof(
    fc.tuple(fc.constantFrom('$eq', '$ne'), scalarArb),
    fc.tuple(fc.constantFrom('$gt', '$gte', '$lt', '$lte'), orderedArb),
    fc.tuple(fc.constantFrom('$in', '$nin'), fc.array(scalarArb, { maxLength: 4 })),
    fc.tuple(fc.constant('$exists'), fc.boolean()),
  );
  const fieldArb = fc.tuple(
    pathArb,
    fc.oneof(scalarArb, fc.array(operatorArb, { minLength: 1, maxLength: 2 }).map((ops) => Object.fromEntries(ops) as unknown)),
  ).map(([path, spec]) => ({ [path]: spec }));
  const { filter: filterArb } = fc.letrec<{ filter: Record<string, unknown> }>((tie) => ({
    filter: fc.oneof(
      { maxDepth: 3, depthSize: 'small' },
      fieldArb,
      fc.constant({}),
      fc.array(tie('filter'), { minLength: 1, maxLength: 3 }).map((filters) => ({ $and: filters })),
      fc.array(tie('filter'), { minLength: 1, maxLength: 3 }).map((filters) => ({ $or: filters })),
      tie('filter').map((filter) => ({ $not: filter })),
      fc.tuple(fieldArb, tie('filter')).map(([a, b]) => ({ ...a, ...b })),
    ),
  }));

  it('on random payloads and filters', () => {
    let matched = 0;
    let unmatched = 0;
    fc.assert(
      fc.property(fc.array(payloadArb, { minLength: 1, maxLength: 12 }), filterArb, (payloads, where) => {
        const ids = matchedIds(where, payloads);
        matched += ids.length;
        unmatched += payloads.length - ids.length;
      }),
      { numRuns: 300 },
    );
    // Guards against generators so narrow that every filter matches everything or nothing.
    assert.ok(matched > 100 && unmatched > 100, `matched ${matched}, unmatched ${unmatched}`);
  });
});
