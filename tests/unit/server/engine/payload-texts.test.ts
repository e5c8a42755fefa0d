import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PayloadBudget, PayloadTexts } from '../../../../server/engine/payload-texts.ts';

test('texts are kept while the shared budget lasts; replacing, deleting and clearing give it back', () => {
  const budget = new PayloadBudget(3 * (100 + 32));
  const a = new PayloadTexts(budget);
  const b = new PayloadTexts(budget);
  const text = (c: string) => `{"t":"${c.repeat(92)}"}`; // 100 characters
  a.set(0, text('a'));
  a.set(1, text('b'));
  b.set(0, text('c'));
  assert.equal(budget.used, 3 * 132);
  b.set(1, text('d')); // over budget: not kept
  assert.equal(b.get(1), undefined);
  a.set(2, null); // no payload costs nothing and is known
  assert.equal(a.get(2), null);
  assert.equal(a.get(0), text('a'));
  a.set(0, text('e')); // a replacement frees the old text first
  assert.equal(a.get(0), text('e'));
  assert.equal(budget.used, 3 * 132);
  a.delete(1);
  assert.equal(a.get(1), undefined);
  assert.equal(budget.used, 2 * 132);
  b.set(1, text('d'));
  assert.equal(b.get(1), text('d'));
  b.clear();
  assert.equal(budget.used, 132);
  assert.equal(b.get(0), undefined);
  assert.equal(b.get(1), undefined);
  const none = new PayloadTexts(new PayloadBudget(0));
  none.set(0, '{}');
  assert.equal(none.get(0), undefined);
});
