import assert from 'node:assert/strict';
import { test } from 'node:test';
import { openApiDocument } from '../../../server/openapi/build.ts';
import { generateTypes, readTypes, TYPES_FILE } from '../../../scripts/openapi-types.ts';

test('the checked-in client types are those the document generates now (npm run openapi:types)', async () => {
  const fresh = await generateTypes(await openApiDocument());
  const checkedIn = readTypes();
  assert.ok(checkedIn !== null, `${TYPES_FILE} is missing: run npm run openapi:types`);
  assert.ok(checkedIn === fresh, `${TYPES_FILE} differs from a fresh generation: run npm run openapi:types and commit it`);
  // The types say what the API takes and gives.
  assert.match(fresh, /upsertPoints: \{/);
  assert.match(fresh, /SearchAnswer: \{/);
  assert.match(fresh, /"VDB_ERR_COLLECTION_NOT_FOUND"/);
});
