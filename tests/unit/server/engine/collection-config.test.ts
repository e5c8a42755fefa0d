import assert from 'node:assert/strict';
import { test } from 'node:test';
import { defaultReplicas } from '../../../../server/engine/collection-config.ts';

test('the default replica count leaves the event loop a core: one per core but one, never none', () => {
  assert.deepEqual([1, 2, 3, 4, 16].map(defaultReplicas), [1, 1, 2, 3, 15]);
});
