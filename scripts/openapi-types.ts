/**
 * TypeScript types of the API's requests and answers, generated from the OpenAPI document with
 * openapi-typescript (a dev dependency, pinned: its output is checked in and compared by a test).
 * Outside server/: the image installs no dev dependency.
 */
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import openapiTS, { astToString, COMMENT_HEADER } from 'openapi-typescript';

/** Where the generated types are checked in. */
export const TYPES_FILE = fileURLToPath(new URL('../client/src/generated/openapi.ts', import.meta.url));

const HEADER = `${COMMENT_HEADER.trimEnd()}
// Regenerate with \`npm run openapi:types\` after changing a route's schemas or server/openapi/;
// tests/unit/scripts/openapi-types.test.ts fails while this file differs from a fresh generation.

`;

/** The types module's text for a document. */
export async function generateTypes(document: Record<string, unknown>): Promise<string> {
  // A copy: openapi-typescript annotates the object it is given.
  const nodes = await openapiTS(structuredClone(document) as unknown as Parameters<typeof openapiTS>[0], {
    alphabetize: true,
    // A payload or a filter is any JSON object: `{type: object}` without properties means any keys.
    emptyObjectsUnknown: true,
  });
  return HEADER + astToString(nodes);
}

export function writeTypes(text: string, file = TYPES_FILE): void {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, text);
}

export function readTypes(file = TYPES_FILE): string | null {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return null;
  }
}
