// Errors from talking to a registry. Each carries a stable CamelCase reason, which ends up in
// conditions and events, and a message that names the registry and says what to do.
import { internalAddressCode } from './networks.ts';

export type RegistryErrorReason =
  | 'Unauthorized' // credentials missing or refused
  | 'Forbidden' // authenticated, but not allowed
  | 'NotFound' // manifest, blob or tag absent
  | 'RepositoryNotFound'
  | 'RateLimited' // 429 that outlived the retries
  | 'ServerError' // 5xx that outlived the retries
  | 'Timeout' // connect, headers or body idle timeout
  | 'ConnectionFailed' // refused, reset, DNS
  | 'DigestMismatch' // bytes did not hash to the digest they were fetched by
  | 'InvalidResponse' // the registry answered something we cannot use
  | 'InvalidDescriptor' // a descriptor from a registry (index child, layer, referrer) is not a digest or has an impossible size
  | 'DeadlineExceeded' // an operation's deadline passed (a read's, an edge's copy)
  | 'PaginationLoop' // a tag list or referrers page links to a page already read
  | 'ResponseTooLarge' // a body past the limit the client buffers (tag list page, token, referrers, manifest)
  | 'RedirectRefused' // a registry outside the internal networks sent a request (redirect, upload location, token realm) to an internal address
  | 'UntrustedRealm' // a token realm that may not receive the registry's credentials (plain http, foreign domain)
  | 'InvalidReference' // a repository, tag or digest that must not become part of a URL
  | 'Rejected' // another 4xx: the request itself was refused
  | 'RequestFailed' // the client could not make the request (a bad URL from a challenge, say)
  | 'Aborted';

export class RegistryError extends Error {
  override name = 'RegistryError';
  readonly reason: RegistryErrorReason;
  readonly host: string;
  readonly status: number | undefined;
  /** Seconds the registry asked us to wait, from Retry-After or RateLimit headers. */
  readonly retryAfterSeconds: number | undefined;

  constructor(
    reason: RegistryErrorReason,
    host: string,
    message: string,
    options: { status?: number; retryAfterSeconds?: number; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.reason = reason;
    this.host = host;
    this.status = options.status;
    this.retryAfterSeconds = options.retryAfterSeconds;
  }

  /** Worth another attempt: the same request may well succeed later. */
  get transient(): boolean {
    return this.reason === 'RateLimited' || this.reason === 'ServerError' || this.reason === 'Timeout'
      || this.reason === 'ConnectionFailed' || (this.reason === 'Rejected' && this.status === 408);
  }
}

export function reasonForStatus(status: number, notFound: RegistryErrorReason = 'NotFound'): RegistryErrorReason {
  if (status === 401) return 'Unauthorized';
  if (status === 403) return 'Forbidden';
  if (status === 404) return notFound;
  if (status === 429) return 'RateLimited';
  if (status >= 500) return 'ServerError';
  return 'Rejected';
}

const networkCodes: Record<string, RegistryErrorReason> = {
  UND_ERR_CONNECT_TIMEOUT: 'Timeout',
  UND_ERR_HEADERS_TIMEOUT: 'Timeout',
  UND_ERR_BODY_TIMEOUT: 'Timeout',
  UND_ERR_SOCKET: 'ConnectionFailed',
  UND_ERR_CLOSED: 'ConnectionFailed',
  ECONNRESET: 'ConnectionFailed',
  ECONNREFUSED: 'ConnectionFailed',
  EPIPE: 'ConnectionFailed',
  ENOTFOUND: 'ConnectionFailed',
  EAI_AGAIN: 'ConnectionFailed',
  EHOSTUNREACH: 'ConnectionFailed',
  ENETUNREACH: 'ConnectionFailed',
  ECONNABORTED: 'ConnectionFailed',
  ETIMEDOUT: 'Timeout',
  [internalAddressCode]: 'RedirectRefused',
};

/** Turns whatever undici or a stream threw into a RegistryError. */
export function fromNetworkError(error: unknown, host: string, what: string): RegistryError {
  if (error instanceof RegistryError) return error;
  const err = error as { name?: string; code?: string; message?: string; cause?: { code?: string } };
  if (err?.name === 'AbortError' || err?.code === 'ABORT_ERR' || err?.code === 'UND_ERR_ABORTED') {
    return new RegistryError('Aborted', host, `${what}: aborted`, { cause: error });
  }
  if (err?.name === 'TimeoutError') {
    return new RegistryError('Timeout', host, `${what}: timed out`, { cause: error });
  }
  if (err?.name === 'HTTPParserError') {
    // A response that is not HTTP: most often bytes a previous response left on the connection.
    return new RegistryError('ConnectionFailed', host, `${what}: the answer was not valid HTTP (${err.message ?? ''}); retrying on a new connection`, { cause: error });
  }
  const code = err?.code ?? err?.cause?.code;
  // Only known network failures are worth retrying; anything else is a fault retries cannot mend.
  const reason: RegistryErrorReason = (code ? networkCodes[code] : undefined) ?? 'RequestFailed';
  return new RegistryError(reason, host, `${what}: ${err?.message ?? String(error)}${code ? ` (${code})` : ''}`, { cause: error });
}

/**
 * Text a registry sent (an error message, a link), fit for one line of a message that ends up
 * in logs, Events and terminals: control and direction-changing characters become spaces,
 * and it is cut at `max` characters.
 */
export function quoted(text: string, max: number): string {
  const line = text.replace(/[\p{Cc}\p{Cf}\u2028\u2029]+/gu, ' ').replace(/\s+/g, ' ').trim();
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}

/** An error for a person: a RegistryError's stable reason first, then its message. */
export function describeError(error: unknown): string {
  return error instanceof RegistryError ? `${error.reason}: ${error.message}` : (error as Error).message;
}
