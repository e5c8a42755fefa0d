import assert from 'node:assert/strict';
import { test } from 'node:test';
import { inScope, KeyRing, parseKeys, sha256 } from '../../../../server/auth/keys.ts';

const entry = (name: string, key: string, role: string, collections?: string[]) => ({ name, sha256: sha256(key).toString('hex'), role, ...(collections && { collections }) });

test('a key ring finds keys by digest and nothing else', () => {
  const keys = parseKeys(JSON.stringify([entry('a', 'alpha-key-000000000', 'admin'), entry('b', 'beta-key-0000000000', 'read', ['docs', 'faq-*'])]), 'keys.json');
  const ring = new KeyRing(keys);
  assert.equal(ring.size, 2);
  assert.equal(ring.find('alpha-key-000000000')?.name, 'a');
  assert.equal(ring.find('beta-key-0000000000')?.role, 'read');
  assert.equal(ring.find('alpha-key-00000000'), null);
  assert.equal(ring.find(''), null);
  const b = ring.find('beta-key-0000000000')!;
  assert.ok(inScope(b, 'docs') && inScope(b, 'faq-1') && inScope(b, 'faq-'));
  assert.ok(!inScope(b, 'docs2') && !inScope(b, 'faq') && !inScope(b, 'x'));
  assert.ok(inScope(ring.find('alpha-key-000000000')!, 'anything'));
});

test('a keys file is checked entry by entry, naming what is wrong', () => {
  const bad: [unknown, RegExp][] = [
    ['{', /not JSON/],
    [{}, /expected an array/],
    [[null], /\[0\]: expected an object/],
    [[{ name: '', sha256: '0'.repeat(64), role: 'read' }], /\[0\]\.name/],
    [[{ name: 'a', sha256: 'ABC', role: 'read' }], /\[0\]\.sha256/],
    [[{ name: 'a', sha256: '0'.repeat(64), role: 'root' }], /\[0\]\.role/],
    [[{ name: 'a', sha256: '0'.repeat(64), role: 'read', collections: 'docs' }], /\[0\]\.collections/],
    [[entry('a', 'k1-0000000000000000', 'read'), entry('a', 'k2-0000000000000000', 'read')], /\[1\]\.name: 'a' is used twice/],
  ];
  for (const [content, message] of bad) {
    assert.throws(() => parseKeys(typeof content === 'string' ? content : JSON.stringify(content), 'keys.json'), message);
  }
});
