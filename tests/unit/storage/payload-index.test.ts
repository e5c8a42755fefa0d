import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { PayloadIndex, compareUtf8 } from '../../../storage/payload-index.ts';
import { matchesWhere, parseWhere, type WhereNode } from '../../../storage/where.ts';

type Payload = Record<string, unknown> | null;

/** Labels matching `where` per the index; fails if the index cannot answer. */
function indexed(index: PayloadIndex, where: unknown): number[] {
  const result = index.evaluate(parseWhere(where));
  assert.ok(result !== null, `no answer for ${JSON.stringify(where)}`);
  assert.equal(result.count, result.bitmap.count());
  return [...result.bitmap.toArray()];
}

/** Labels matching `node` per matchesWhere; a point without payload is `undefined` there, as SQL NULL. */
function scanned(node: WhereNode, payloads: ReadonlyMap<number, Payload>): number[] {
  return [...payloads]
    .filter(([, payload]) => matchesWhere(node, payload ?? undefined))
    .map(([label]) => label)
    .sort((a, b) => a - b);
}

function build(payloads: ReadonlyMap<number, Payload>, options = {}): PayloadIndex {
  const index = new PayloadIndex(options);
  for (const [label, payload] of payloads) index.set(label, payload);
  return index;
}

const table = new Map<number, Payload>([
  [0, { lang: 'en', n: 5, tags: ['a', 'b'], meta: { author: 'x', year: 2020 }, flag: true }],
  [1, { lang: 'de', n: 10, tags: ['b', 'c'], meta: { author: 'y' }, flag: false, z: null }],
  [2, { lang: 'en', n: '5', tags: [], meta: null }],
  [3, { n: [1, 20, 'x', null], tags: 'a', deep: [[5], { n: 5 }] }],
  [4, null],
  [5, {}],
  [6, { lang: ['en', 'fr'], meta: { author: ['x', 'z'], deep: { k: 1 } }, n: -1.5 }],
  [7, { 'a.b': 1, a: { b: 2 }, meta: { year: '2020' } }],
  [8, { s: 'é', t: '😀', n: 1e300, flag: [true, false] }],
  [9, { meta: 'x', tags: [['a'], { a: 1 }], n: { x: 5 } }],
]);

// [where, labels of `table` it matches]
const rows: readonly (readonly [unknown, number[]])[] = [
  [{ lang: 'en' }, [0, 2, 6]],
  [{ lang: { $eq: 'en' } }, [0, 2, 6]],
  [{ lang: { $ne: 'en' } }, [1, 3, 4, 5, 7, 8, 9]],
  [{ lang: { $in: ['de', 'fr'] } }, [1, 6]],
  [{ lang: { $nin: ['de', 'fr'] } }, [0, 2, 3, 4, 5, 7, 8, 9]],
  [{ lang: { $exists: true } }, [0, 1, 2, 6]],
  [{ lang: { $exists: false } }, [3, 4, 5, 7, 8, 9]],
  // Numbers: same type only, any array element, objects never match.
  [{ n: 5 }, [0]],
  [{ n: { $gt: 5 } }, [1, 3, 8]],
  [{ n: { $gte: 5 } }, [0, 1, 3, 8]],
  [{ n: { $lt: 5 } }, [3, 6]],
  [{ n: { $lte: 1 } }, [3, 6]],
  [{ n: { $lte: -1.5 } }, [6]],
  [{ n: { $gt: 1e300 } }, []],
  [{ n: { $gt: 1, $lt: 20 } }, [0, 1, 3]], // each operator may match a different element
  [{ n: { $gt: 'a' } }, [3]],
  [{ n: { $lt: 'a' } }, [2]],
  [{ n: { $in: [5, '5'] } }, [0, 2]],
  // null is a value; a missing field is not.
  [{ n: null }, [3]],
  [{ z: null }, [1]],
  [{ z: { $exists: true } }, [1]],
  [{ n: { $ne: null } }, [0, 1, 2, 4, 5, 6, 7, 8, 9]],
  [{ meta: null }, [2]],
  [{ meta: { $exists: true } }, [0, 1, 2, 6, 7, 9]],
  // Arrays: scalar elements only; nested arrays and objects are not looked into.
  [{ tags: 'a' }, [0, 3]],
  [{ tags: { $exists: true } }, [0, 1, 2, 3, 9]],
  [{ tags: { $nin: ['a', 'b'] } }, [2, 4, 5, 6, 7, 8, 9]],
  [{ 'tags.a': 1 }, []],
  [{ deep: 5 }, []],
  [{ 'deep.n': 5 }, []],
  // Nested paths descend plain objects only; a dotted key is not a path.
  [{ 'meta.author': 'x' }, [0, 6]],
  [{ 'meta.author': { $exists: false } }, [2, 3, 4, 5, 7, 8, 9]],
  [{ 'meta.year': 2020 }, [0]],
  [{ 'meta.year': '2020' }, [7]],
  [{ 'meta.year': { $gte: 2000 } }, [0]],
  [{ 'meta.deep.k': 1 }, [6]],
  [{ 'meta.deep': { $exists: true } }, [6]],
  [{ 'meta.author.x': { $exists: false } }, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]],
  [{ meta: 'x' }, [9]],
  [{ 'a.b': 2 }, [7]],
  [{ 'a.b': 1 }, []],
  // Booleans.
  [{ flag: true }, [0, 8]],
  [{ flag: false }, [1, 8]],
  [{ flag: { $ne: true } }, [1, 2, 3, 4, 5, 6, 7, 9]],
  [{ flag: { $in: [1, 'true'] } }, []],
  // Strings order by UTF-8 bytes.
  [{ s: { $gt: 'z' } }, [8]],
  [{ t: { $gt: '\uFF21' } }, [8]],
  [{ t: { $lt: '\uFF21' } }, []],
  [{ s: { $gte: 'é', $lte: 'é' } }, [8]],
  // Unknown keys.
  [{ nothing: 1 }, []],
  [{ nothing: { $ne: 1 } }, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]],
  [{ nothing: { $gt: 0 } }, []],
  // Logic.
  [{}, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]],
  [{ $not: {} }, []],
  [{ $and: [{ lang: 'en' }, { n: { $exists: true } }] }, [0, 2, 6]],
  [{ lang: 'en', n: { $gte: 0 } }, [0]],
  [{ $or: [{ lang: 'de' }, { flag: true }] }, [0, 1, 8]],
  [{ $not: { lang: 'en' } }, [1, 3, 4, 5, 7, 8, 9]],
  [{ $or: [{ n: { $exists: false } }, { n: { $in: [null, true] } }] }, [3, 4, 5, 7]],
  [{ $and: [{ $not: { tags: 'b' } }, { $not: { lang: { $exists: false } } }] }, [2, 6]],
  [{ $and: [{ $not: { lang: 'en' } }] }, [1, 3, 4, 5, 7, 8, 9]],
  [{ $or: [{ $not: { lang: { $exists: true } } }, { $and: [{ flag: false }, { n: { $gt: 5 } }] }] }, [1, 3, 4, 5, 7, 8, 9]],
];

describe('PayloadIndex', () => {
  it('matches the where truth table, and matchesWhere, row by row', () => {
    const index = build(table);
    assert.equal(index.size, 10);
    for (const [where, expected] of rows) {
      assert.deepEqual(indexed(index, where), expected, JSON.stringify(where));
      assert.deepEqual(scanned(parseWhere(where), table), expected, `table row disagrees with matchesWhere: ${JSON.stringify(where)}`);
    }
  });

  it('treats a point without payload as live: it matches {}, $ne, $nin and $exists: false only', () => {
    const index = new PayloadIndex();
    index.set(3, null);
    assert.ok(index.has(3));
    assert.equal(index.size, 1);
    assert.deepEqual(indexed(index, {}), [3]);
    assert.deepEqual(indexed(index, { a: { $ne: 1 } }), [3]);
    assert.deepEqual(indexed(index, { a: { $nin: [null] } }), [3]);
    assert.deepEqual(indexed(index, { a: { $exists: false } }), [3]);
    assert.deepEqual(indexed(index, { a: { $exists: true } }), []);
    assert.deepEqual(indexed(index, { a: null }), []);
    assert.deepEqual(indexed(index, { a: { $lt: 'z' } }), []);
  });

  it('reads undefined fields as missing, and the empty path (never parsed) as the payload itself', () => {
    const index = new PayloadIndex();
    index.set(0, { a: undefined, b: [undefined, 1], c: { d: undefined } });
    index.set(1, null);
    assert.deepEqual(indexed(index, { a: { $exists: false } }), [0, 1]);
    assert.deepEqual(indexed(index, { 'c.d': { $exists: false } }), [0, 1]);
    assert.deepEqual(indexed(index, { c: { $exists: true } }), [0]);
    assert.deepEqual(indexed(index, { b: 1 }), [0]);
    const root: WhereNode = { kind: 'exists', path: [], exists: true };
    const payloads = new Map<number, Payload>([[0, { a: undefined, b: [undefined, 1], c: { d: undefined } }], [1, null]]);
    assert.deepEqual([...(index.evaluate(root)?.bitmap ?? [])], scanned(root, payloads));
  });

  it('replaces old postings on set, removes them on delete, and takes a label back after delete', () => {
    const index = new PayloadIndex();
    index.set(1, { a: 1, b: ['x', 'y'], c: { d: true } });
    index.set(2, { a: 2 });
    index.set(1, { a: 3, b: 'y' });
    assert.deepEqual(indexed(index, { a: 1 }), []);
    assert.deepEqual(indexed(index, { a: 3 }), [1]);
    assert.deepEqual(indexed(index, { b: 'x' }), []);
    assert.deepEqual(indexed(index, { b: 'y' }), [1]);
    assert.deepEqual(indexed(index, { c: { $exists: true } }), []);
    assert.deepEqual(indexed(index, { 'c.d': { $ne: true } }), [1, 2]);
    assert.deepEqual(indexed(index, { a: { $gt: 1 } }), [1, 2]);
    assert.equal(index.stats().paths, 2);

    assert.equal(index.delete(1), true);
    assert.equal(index.delete(1), false);
    assert.equal(index.has(1), false);
    assert.equal(index.size, 1);
    assert.deepEqual(indexed(index, { a: { $gt: 1 } }), [2]);
    assert.deepEqual(indexed(index, { a: { $ne: 5 } }), [2]);
    assert.deepEqual(indexed(index, {}), [2]);
    assert.deepEqual(indexed(index, { b: { $exists: false } }), [2]);

    index.set(1, { b: 'y' });
    assert.deepEqual(indexed(index, { b: 'y' }), [1]);
    assert.deepEqual(indexed(index, { a: { $exists: false } }), [1]);
    index.set(1, null);
    assert.deepEqual(indexed(index, { b: { $exists: false } }), [1, 2]);
    assert.equal(index.size, 2);

    index.delete(1);
    index.delete(2);
    assert.equal(index.delete(99), false);
    assert.deepEqual(index.stats(), { ...index.stats(), labels: 0, paths: 0, postings: 0, postingEntries: 0, longStringPaths: 0 });
    assert.deepEqual(indexed(index, {}), []);
  });

  it('keeps repeated array elements as one posting and counts what it holds', () => {
    const index = new PayloadIndex();
    index.set(0, { tags: ['a', 'a', 'b'], n: [1, 1], m: { k: null } });
    index.set(1, { tags: 'a' });
    assert.deepEqual(
      { ...index.stats(), approximateBytes: 0 },
      { labels: 2, paths: 4, postings: 4, postingEntries: 5, longStringPaths: 0, approximateBytes: 0 },
    );
    assert.ok(index.stats().approximateBytes > 0);
    index.set(0, { tags: ['b'] });
    assert.deepEqual(indexed(index, { tags: 'a' }), [1]);
    assert.equal(index.stats().postingEntries, 2);
    index.clear();
    assert.equal(index.size, 0);
    assert.equal(index.has(0), false);
    assert.deepEqual(indexed(index, {}), []);
    assert.equal(index.stats().paths, 0);
  });

  it('keeps range answers right as values come and go (the sorted values are rebuilt)', () => {
    const index = new PayloadIndex();
    for (let label = 0; label < 5; label++) index.set(label, { n: label, s: String.fromCharCode(97 + label) });
    assert.deepEqual(indexed(index, { n: { $gt: 2 } }), [3, 4]);
    assert.deepEqual(indexed(index, { s: { $lte: 'b' } }), [0, 1]);
    index.set(0, { n: 10, s: 'z' });
    index.delete(4);
    index.set(7, { n: [2.5, -1], s: ['bb', 'a'] });
    assert.deepEqual(indexed(index, { n: { $gt: 2 } }), [0, 3, 7]);
    assert.deepEqual(indexed(index, { n: { $lt: 0 } }), [7]);
    assert.deepEqual(indexed(index, { s: { $lte: 'b' } }), [1, 7]);
    assert.deepEqual(indexed(index, { s: { $gt: 'b' } }), [0, 2, 3, 7]);
  });

  it('grows to large and sparse labels, and turns postings dense and back', () => {
    const index = new PayloadIndex();
    const top = 2 ** 32 - 1;
    assert.throws(() => index.set(2 ** 32, {}), RangeError);
    assert.throws(() => index.set(-1, {}), RangeError);
    assert.throws(() => index.set(0.5, {}), RangeError);
    assert.equal(index.has(top), false);
    const labels = Array.from({ length: 3000 }, (_, i) => i * 3);
    for (const label of labels) index.set(label, { even: label % 2 === 0, n: label % 5 });
    assert.deepEqual(indexed(index, { even: true }), labels.filter((l) => l % 2 === 0));
    for (const label of labels) if (label % 6 === 0 && label > 30) index.delete(label);
    assert.deepEqual(indexed(index, { even: true }), [0, 6, 12, 18, 24, 30]);
    assert.deepEqual(
      indexed(index, { n: { $in: [0, 4] }, even: false }),
      labels.filter((l) => l % 2 === 1 && (l % 5 === 0 || l % 5 === 4)),
    );
    index.set(2 ** 20, { even: true });
    assert.deepEqual(indexed(index, { even: true }), [0, 6, 12, 18, 24, 30, 2 ** 20]);
    assert.equal(indexed(index, { even: { $exists: false } }).length, 0);
  });

  it('compares strings by UTF-8 bytes, lone surrogates counting as U+FFFD', () => {
    const strings = ['', 'a', 'ab', 'é', '\uFF21', '\uFFFD', '\uD800', '\uDBFF', '\uDC00', '😀', '\uD83D', '\uD83Dx', '\uD83D\uDE00a', '\uE000'];
    for (const a of strings) {
      for (const b of strings) {
        assert.equal(compareUtf8(a, b), Math.sign(Buffer.compare(Buffer.from(a), Buffer.from(b))), `${JSON.stringify(a)} vs ${JSON.stringify(b)}`);
      }
    }
    const unit = fc.constantFrom('a', 'z', '\u00e9', '\uE000', '\uFFFD', '\uD83D', '\uDE00', '\uD800', '\uDFFF', '😀', '\u{10FFFF}');
    fc.assert(
      fc.property(fc.string({ unit, maxLength: 6 }), fc.string({ unit, maxLength: 6 }), (a, b) => {
        assert.equal(compareUtf8(a, b), Math.sign(Buffer.compare(Buffer.from(a), Buffer.from(b))));
      }),
      { numRuns: 500 },
    );
  });

  describe('long strings', () => {
    const long = 'x'.repeat(20);

    it('records them as present only: $exists stays exact, comparing them gives null', () => {
      const index = build(
        new Map<number, Payload>([
          [0, { text: long, lang: 'en' }],
          [1, { text: 'short' }],
          [2, {}],
          [3, { text: ['ok', long] }],
        ]),
        { maxIndexedStringBytes: 8 },
      );
      assert.equal(index.stats().longStringPaths, 1);
      assert.deepEqual(indexed(index, { text: { $exists: true } }), [0, 1, 3]);
      assert.deepEqual(indexed(index, { text: { $exists: false } }), [2]);
      assert.deepEqual(indexed(index, { lang: 'en' }), [0]);
      for (const where of [
        { text: long },
        { text: { $ne: long } },
        { text: { $in: ['ok', long] } },
        { text: { $gt: 'a' } },
        { text: { $lte: 'z' } },
        { $not: { text: { $lt: 'z' } } },
        { $or: [{ lang: 'en' }, { text: { $nin: [long] } }] },
        { $and: [{ lang: 'en' }, { $not: { text: { $gte: '' } } }] },
      ]) {
        assert.equal(index.evaluate(parseWhere(where)), null, JSON.stringify(where));
      }
      // A string within the limit can never equal a longer one, and numbers are never strings.
      assert.deepEqual(indexed(index, { text: 'short' }), [1]);
      assert.deepEqual(indexed(index, { text: { $nin: ['ok'] } }), [0, 1, 2]);
      assert.deepEqual(indexed(index, { text: { $gt: 5 } }), []);
      assert.deepEqual(indexed(index, { lang: long }), []);

      index.delete(0);
      index.set(3, { text: 'ok' });
      assert.equal(index.stats().longStringPaths, 0);
      assert.deepEqual(indexed(index, { text: { $gt: 'a' } }), [1, 3]);
    });

    it('measures the limit in UTF-8 bytes, 256 by default', () => {
      const index = new PayloadIndex({ maxIndexedStringBytes: 8 });
      index.set(0, { a: 'éééé', b: '😀😀', c: 'xxxxxxxx' }); // 8 bytes each
      assert.equal(index.stats().longStringPaths, 0);
      index.set(1, { a: 'ééééa', b: '😀😀a', c: 'ééé\uD800' }); // 9 bytes each
      assert.equal(index.stats().longStringPaths, 3);

      const defaults = new PayloadIndex();
      defaults.set(0, { a: 'a'.repeat(256) });
      assert.equal(defaults.stats().longStringPaths, 0);
      defaults.set(1, { a: 'a'.repeat(257) });
      assert.equal(defaults.stats().longStringPaths, 1);

      assert.throws(() => new PayloadIndex({ maxIndexedStringBytes: -1 }), /options.maxIndexedStringBytes must be a non-negative integer/);
      assert.throws(() => new PayloadIndex({ maxIndexedStringBytes: 1.5 }), /options.maxIndexedStringBytes/);
    });
  });

  it('can answer in SharedArrayBuffers', () => {
    const index = new PayloadIndex({ sharedResults: true });
    index.set(5, { a: 1 });
    const result = index.evaluate(parseWhere({ a: { $ne: 2 } }));
    assert.ok(result?.bitmap.buffer instanceof SharedArrayBuffer);
    assert.deepEqual([...result.bitmap], [5]);
  });

  it('gives exactly the labels matchesWhere gives over the live payloads, for random payloads, updates and filters', () => {
    const maxBytes = 4;
    const str = fc.oneof(
      { arbitrary: fc.constantFrom('a', 'b', 'é'), weight: 4 },
      { arbitrary: fc.constantFrom('', 'ab', '😀', '\uFF21', '\uD800', '\uFFFD', 'xxxxx'), weight: 2 },
      { arbitrary: fc.string({ unit: fc.constantFrom('a', 'b', 'é', '\uD83D', '\uDE00'), maxLength: 3 }), weight: 1 },
    );
    const finite = fc.oneof({ arbitrary: fc.integer({ min: -2, max: 2 }), weight: 4 }, { arbitrary: fc.constantFrom(0.5, -0, 1e300, -1e300), weight: 1 });
    const num = fc.oneof(finite, fc.constantFrom(Infinity, -Infinity, NaN));
    const scalar = fc.oneof(
      { arbitrary: num, weight: 3 },
      { arbitrary: str, weight: 3 },
      { arbitrary: fc.boolean(), weight: 1 },
      { arbitrary: fc.constant(null), weight: 1 },
    );
    const operand = fc.oneof(
      { arbitrary: finite, weight: 3 },
      { arbitrary: str, weight: 3 },
      { arbitrary: fc.boolean(), weight: 1 },
      { arbitrary: fc.constant(null), weight: 1 },
    );
    const key = fc.constantFrom('a', 'b', 'c');
    const { value } = fc.letrec<{ value: unknown; object: Record<string, unknown> }>((tie) => ({
      value: fc.oneof(
        { depthSize: 'small', withCrossShrink: true },
        { arbitrary: scalar, weight: 4 },
        { arbitrary: fc.array(fc.oneof(scalar, scalar, scalar, fc.array(scalar, { maxLength: 2 }), tie('object')), { maxLength: 4 }), weight: 2 },
        { arbitrary: tie('object'), weight: 1 },
      ),
      object: fc.dictionary(key, tie('value'), { maxKeys: 3 }),
    }));
    const payload = fc.option(fc.dictionary(key, value, { minKeys: 1, maxKeys: 3 }), { nil: null, freq: 6 });
    const op = fc.oneof(
      { arbitrary: fc.record({ label: fc.nat(15), payload }), weight: 5 },
      { arbitrary: fc.record({ label: fc.nat(15) }), weight: 1 },
    );

    const path = fc.oneof({ arbitrary: key, weight: 3 }, { arbitrary: fc.constantFrom('a.b', 'b.c', 'a.a', 'a.b.c'), weight: 1 });
    const single = fc.oneof(
      operand,
      fc.record({ $eq: operand }),
      fc.record({ $ne: operand }),
      ...(['$gt', '$gte', '$lt', '$lte'] as const).map((name) => fc.record({ [name]: fc.oneof(finite, str) })),
      fc.record({ $in: fc.array(operand, { maxLength: 4 }) }),
      fc.record({ $nin: fc.array(operand, { maxLength: 4 }) }),
      fc.record({ $exists: fc.boolean() }),
    );
    const condition = fc.oneof(single, single, fc.tuple(single, single).map(([x, y]) => (isObject(x) && isObject(y) ? { ...x, ...y } : x)));
    const field = fc.oneof({ arbitrary: fc.dictionary(path, condition, { minKeys: 1, maxKeys: 2 }), weight: 9 }, { arbitrary: fc.constant({}), weight: 1 });
    const filterOf = (depth: number): fc.Arbitrary<unknown> => {
      if (depth === 0) return field;
      const sub = filterOf(depth - 1);
      return fc.oneof(
        { arbitrary: field, weight: 3 },
        { arbitrary: fc.record({ $and: fc.array(sub, { minLength: 1, maxLength: 3 }) }), weight: 1 },
        { arbitrary: fc.record({ $or: fc.array(sub, { minLength: 1, maxLength: 3 }) }), weight: 1 },
        { arbitrary: fc.record({ $not: sub }), weight: 1 },
        { arbitrary: fc.tuple(field, fc.record({ $not: sub })).map(([f, n]) => ({ ...f, ...n })), weight: 1 },
      );
    };

    fc.assert(
      fc.property(fc.array(op, { minLength: 8, maxLength: 30 }), fc.array(filterOf(3), { minLength: 1, maxLength: 6 }), (ops, filters) => {
        const nodes = filters.map((where) => parseWhere(where));
        const exact = new PayloadIndex();
        const small = new PayloadIndex({ maxIndexedStringBytes: maxBytes });
        const live = new Map<number, Payload>();
        const check = (): void => {
          assert.equal(exact.size, live.size);
          for (const node of nodes) {
            const expected = scanned(node, live);
            const result = exact.evaluate(node);
            assert.ok(result !== null);
            assert.deepEqual([...result.bitmap.toArray()], expected, JSON.stringify(node));
            assert.equal(result.count, expected.length);
            const limited = small.evaluate(node);
            assert.equal(limited === null, comparesLongStrings(node, live, maxBytes), JSON.stringify(node));
            if (limited !== null) assert.deepEqual([...limited.bitmap.toArray()], expected, JSON.stringify(node));
          }
        };
        for (const step of ops) {
          if ('payload' in step) {
            exact.set(step.label, step.payload);
            small.set(step.label, step.payload);
            live.set(step.label, step.payload);
          } else {
            assert.equal(exact.delete(step.label), live.delete(step.label));
            small.delete(step.label);
          }
          check();
        }
        for (const label of live.keys()) {
          exact.delete(label);
          small.delete(label);
        }
        for (const index of [exact, small]) {
          const { labels, paths, postings, postingEntries, longStringPaths } = index.stats();
          assert.deepEqual([labels, paths, postings, postingEntries, longStringPaths], [0, 0, 0, 0, 0]);
        }
      }),
      { numRuns: 400 },
    );
  });

  it('evaluates filters over 100k points quickly (diagnostic timings, not asserted)', (t) => {
    const n = 100_000;
    const langs = ['en', 'de', 'fr'];
    const payloads = Array.from({ length: n }, (_, i) => ({ bucket: i % 1000, lang: langs[i % 3], tags: [`t${i % 7}`, `t${i % 13}`] }));
    const index = new PayloadIndex();
    let start = performance.now();
    for (let i = 0; i < n; i++) index.set(i, payloads[i]);
    const setMs = performance.now() - start;
    start = performance.now();
    for (let i = 0; i < n; i += 10) index.set(i, { ...payloads[i], bucket: (i + 1) % 1000 });
    const updateMs = performance.now() - start;
    for (let i = 0; i < n; i += 10) index.set(i, payloads[i]);

    const queries: [string, unknown][] = [
      ['bucket < 10 (1 %)', { bucket: { $lt: 10 } }],
      ["lang 'en' and bucket >= 500", { lang: 'en', bucket: { $gte: 500 } }],
      ['bucket $in 100 values', { bucket: { $in: Array.from({ length: 100 }, (_, i) => i * 10) } }],
      ["tags $nin ['t1']", { tags: { $nin: ['t1'] } }],
    ];
    const lines = [`set ${n} points: ${setMs.toFixed(1)} ms; re-set 10k: ${updateMs.toFixed(1)} ms`];
    for (const [name, where] of queries) {
      const node = parseWhere(where);
      const times: number[] = [];
      let count = 0;
      for (let r = 0; r < 7; r++) {
        start = performance.now();
        const result = index.evaluate(node);
        times.push(performance.now() - start);
        count = result?.count ?? -1;
      }
      start = performance.now();
      const expected = payloads.filter((p) => matchesWhere(node, p)).length;
      const scanMs = performance.now() - start;
      assert.equal(count, expected, name);
      times.sort((a, b) => a - b);
      lines.push(`${name}: ${count} labels, first ${times[6].toFixed(2)} ms, median ${times[3].toFixed(2)} ms (matchesWhere scan ${scanMs.toFixed(1)} ms)`);
    }
    const stats = index.stats();
    lines.push(`stats: ${JSON.stringify(stats)}`);
    for (const line of lines) t.diagnostic(line);
  });
});

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Whether `node` compares a string too long to index on a path where a live payload holds one. */
function comparesLongStrings(node: WhereNode, live: ReadonlyMap<number, Payload>, maxBytes: number): boolean {
  const isLong = (v: unknown): boolean => typeof v === 'string' && Buffer.byteLength(v) > maxBytes;
  const pathHoldsLong = (path: readonly string[]): boolean =>
    [...live.values()].some((payload) => {
      let value: unknown = payload;
      for (const segment of path) {
        if (!isObject(value) || !Object.hasOwn(value, segment)) return false;
        value = value[segment];
      }
      return (Array.isArray(value) ? value : [value]).some(isLong);
    });
  switch (node.kind) {
    case 'and':
    case 'or':
      return node.children.some((child) => comparesLongStrings(child, live, maxBytes));
    case 'not':
      return comparesLongStrings(node.child, live, maxBytes);
    case 'exists':
      return false;
    case 'cmp':
      return typeof node.value === 'string' && pathHoldsLong(node.path);
    case 'in':
      return node.values.some(isLong) && pathHoldsLong(node.path);
  }
}
