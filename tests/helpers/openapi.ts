import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- the OpenAPI document, read field by field

export interface DocOperation {
  method: string;
  /** The OpenAPI path, `{param}` style. */
  path: string;
  operation: Json;
}

/** Every operation of the document. */
export function operations(doc: Json): DocOperation[] {
  return Object.entries(doc.paths as Record<string, Json>).flatMap(([path, item]) =>
    Object.entries(item).map(([method, operation]) => ({ method: method.toUpperCase(), path, operation: operation as Json })),
  );
}

/** The document's operation a concrete request goes to (`/v1/collections/docs/search` → `/v1/collections/{name}/search`). */
export function operationFor(doc: Json, method: string, path: string): DocOperation | undefined {
  const bare = path.split('?')[0];
  // Literal segments win over parameters, as in the router (`/points/delete` over `/points/{id}`).
  const candidates = operations(doc).filter((o) => o.method === method && new RegExp(`^${o.path.replace(/\{[^/]+\}/g, '[^/]+')}$`).test(bare));
  return candidates.sort((a, b) => (a.path.match(/\{/g) ?? []).length - (b.path.match(/\{/g) ?? []).length)[0];
}

/** Validators of the document's schemas: `#/components/…` references resolve against the document. */
export function schemaChecker(doc: Json): (schema: unknown) => ValidateFunction {
  const ajv = new Ajv2020({ strict: false, validateFormats: false, allErrors: true });
  const cache = new Map<unknown, ValidateFunction>();
  return (schema) => {
    let validate = cache.get(schema);
    if (!validate) {
      validate = ajv.compile({ ...(schema as Json), components: doc.components });
      cache.set(schema, validate);
    }
    return validate;
  };
}

/** A resolved response object (shared ones are `$ref`s to components.responses). */
export function response(doc: Json, operation: Json, status: number): Json | undefined {
  const found = (operation.responses as Json)[String(status)] as Json | undefined;
  if (found?.$ref) return doc.components.responses[(found.$ref as string).split('/').pop()!] as Json;
  return found;
}
