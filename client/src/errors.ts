/**
 * A failed request. `status` is the HTTP status, or 0 when no answer came: then `code` is the
 * system's (`ECONNREFUSED`, `ENOTFOUND`, `ECONNRESET`, …) or `ETIMEDOUT` for the client's own
 * `timeoutMs`. Otherwise `code` is the server's `VDB_ERR_…` code (docs/api.md: Errors), or `HTTP_<status>`
 * for an answer without one.
 */
export class VicinityError extends Error {
  readonly status: number;
  readonly code: string;

  constructor(status: number, code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'VicinityError';
    this.status = status;
    this.code = code;
  }
}

/** The error an answer's body describes (`{code, message}` from the server), or one made from its status. */
export function answerError(status: number, body: unknown, text: string): VicinityError {
  if (typeof body === 'object' && body !== null) {
    const { code, message } = body as Record<string, unknown>;
    if (typeof code === 'string' && typeof message === 'string') return new VicinityError(status, code, message);
  }
  const detail = text.trim().slice(0, 200) || 'no body';
  return new VicinityError(status, `HTTP_${status}`, `the server answered HTTP ${status}: ${detail}`);
}

/** A request that got no answer: the innermost cause with a code (undici wraps system errors) names what happened. */
export function unreachable(url: string, err: unknown): VicinityError {
  let cause: unknown = err;
  let code: string | undefined;
  while (cause instanceof Error) {
    const c = (cause as { code?: unknown }).code;
    if (typeof c === 'string' && !c.startsWith('UND_ERR')) code = c;
    if (cause.cause === undefined) break;
    cause = cause.cause;
  }
  code ??= (err as { code?: unknown } | null)?.code as string | undefined;
  const text = cause instanceof Error ? cause.message || cause.name : String(cause);
  return new VicinityError(0, typeof code === 'string' ? code : 'ECONNECTION', `cannot reach the server at ${url}: ${text}`, { cause: err });
}
