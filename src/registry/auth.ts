// Registry authentication: learns each host's challenge from its first 401, then sends Basic
// credentials or a bearer token scoped to the repository and actions of each request. Tokens
// are cached per host and scope until shortly before they expire. A challenge's realm is
// registry-supplied text: credentials go there only when the realm policy below allows it.
import { isIP } from 'node:net';
import { anonymous, type Credential, type CredentialStore } from './credentials.ts';
import { RegistryError } from './errors.ts';

export interface Challenge {
  scheme: 'basic' | 'bearer';
  realm?: string;
  service?: string;
  scope?: string;
}

/** Parses a WWW-Authenticate header: `Bearer realm="…",service="…",scope="…"` or `Basic realm="…"`. */
export function parseChallenge(header: string | undefined): Challenge | undefined {
  if (!header) return undefined;
  const match = /^\s*(\w+)\s*(.*)$/s.exec(header);
  if (!match) return undefined;
  const scheme = match[1]!.toLowerCase();
  if (scheme !== 'basic' && scheme !== 'bearer') return undefined;
  const params: Record<string, string> = {};
  const paramPattern = /(\w+)=(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))/g;
  for (const [, key, quoted, bare] of match[2]!.matchAll(paramPattern)) {
    params[key!.toLowerCase()] = quoted !== undefined ? quoted.replace(/\\(.)/g, '$1') : (bare ?? '');
  }
  return {
    scheme,
    ...(params.realm !== undefined && { realm: params.realm }),
    ...(params.service !== undefined && { service: params.service }),
    ...(params.scope !== undefined && { scope: params.scope }),
  };
}

/** The repositories and actions a request needs, e.g. push to `prod/app` and pull from `staging/app`. */
export type Scope = string[];

export const repositoryScope = (name: string, actions: string): string => `repository:${name}:${actions}`;

export interface TokenResponse { token?: string; access_token?: string; expires_in?: number; issued_at?: string }

/** Sends a token request and returns the status and parsed body; supplied by the transport. */
export type TokenFetcher = (request: {
  /** The registry that named the realm. */
  registry: string;
  url: URL; method: 'GET' | 'POST'; headers: Record<string, string>; body?: string; signal?: AbortSignal;
}) => Promise<{ status: number; body: TokenResponse | undefined }>;

interface CachedToken { value: string; expiresAt: number }

/** How the transport reaches hosts, for the realm policy. */
export interface RealmContext {
  /** Whether the registry itself is spoken to over https. */
  registrySecure: boolean;
  /** Hosts the user allowed plain http for (loopback hosts always are); compared by hostname. */
  plainHttpHosts: readonly string[];
  /** Realm hosts the user trusts with this registry's credentials beyond its own domain. */
  trustedRealmHosts: readonly string[];
}

const hostnameOf = (host: string): string => {
  const name = host.startsWith('[') ? host.slice(1, host.indexOf(']')) : host.replace(/:\d+$/, '');
  return name.toLowerCase().replace(/\.$/, '');
};

/**
 * The domain a registry's credentials may travel within: the registry's hostname without its
 * first label when at least two labels remain (`registry-1.docker.io` -> `docker.io`, so
 * `auth.docker.io` qualifies), else the hostname itself (`ghcr.io`); an IP address only itself.
 */
export function credentialDomain(registryHost: string): string {
  const name = hostnameOf(registryHost);
  if (isIP(name) || !name.includes('.')) return name;
  const labels = name.split('.');
  return labels.length >= 3 ? labels.slice(1).join('.') : name;
}

/**
 * Whether a token realm may be used, and with credentials. The rules, documented in
 * docs/operations.md ("Where credentials go"):
 * - the realm is https, or plain http only when the registry itself is plain http and the realm
 *   host is loopback or an allowed insecure host: an https registry never hands a token
 *   exchange (and its credentials) to plain http;
 * - credentials (a password, an identity token) go only to a realm host inside the registry's
 *   credential domain, or one the user listed as trusted for that registry. Without
 *   credentials any https realm may issue an anonymous token.
 * Returns why the realm is refused, or undefined.
 */
export function refuseRealm(realm: URL, registryHost: string, withCredentials: boolean, context: RealmContext): string | undefined {
  if (realm.protocol !== 'https:' && realm.protocol !== 'http:') return `its scheme ${realm.protocol} is neither https nor http`;
  if (realm.username || realm.password) return 'it carries user information';
  const realmName = hostnameOf(realm.host);
  if (realm.protocol === 'http:') {
    if (context.registrySecure) return 'it is plain http while the registry is https';
    const loopback = realmName === 'localhost' || /^127\./.test(realmName) || realmName === '::1';
    if (!loopback && !context.plainHttpHosts.some((h) => hostnameOf(h) === realmName)) return 'it is plain http on a host not allowed as insecure';
  }
  if (!withCredentials) return undefined;
  const domain = credentialDomain(registryHost);
  const inDomain = realmName === domain || (!isIP(domain) && realmName.endsWith(`.${domain}`));
  const trusted = context.trustedRealmHosts.some((h) => hostnameOf(h) === realmName);
  if (!inDomain && !trusted) return `its host ${realm.host} is outside the registry's domain ${domain}`;
  return undefined;
}

const basicHeader = (username: string, password: string): string =>
  `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;

export class Authenticator {
  readonly #credentials: CredentialStore;
  readonly #fetchToken: TokenFetcher;
  readonly #challenges = new Map<string, Challenge | null>();
  readonly #tokens = new Map<string, CachedToken>();
  readonly #pending = new Map<string, Promise<CachedToken>>();

  readonly #realmContext: (host: string) => RealmContext;

  constructor(credentials: CredentialStore, fetchToken: TokenFetcher, realmContext: (host: string) => RealmContext) {
    this.#credentials = credentials;
    this.#fetchToken = fetchToken;
    this.#realmContext = realmContext;
  }

  credential(host: string): Credential {
    return this.#credentials.get(host) ?? anonymous;
  }

  /** The Authorization header for a request, or undefined before the host has challenged us. */
  async authorization(host: string, scope: Scope, signal?: AbortSignal): Promise<string | undefined> {
    const challenge = this.#challenges.get(host);
    if (!challenge) return undefined;
    const credential = this.credential(host);
    if (challenge.scheme === 'basic') {
      return credential.kind === 'basic' ? basicHeader(credential.username, credential.password) : undefined;
    }
    const token = await this.#token(host, challenge, scope, signal);
    return `Bearer ${token.value}`;
  }

  /**
   * Called on a 401. Learns the challenge and forgets the token that was refused; returns
   * whether sending the request again can help.
   */
  unauthorized(host: string, scope: Scope, wwwAuthenticate: string | undefined, sentAuthorization: boolean): boolean {
    const challenge = parseChallenge(wwwAuthenticate);
    const known = this.#challenges.get(host);
    this.#challenges.set(host, challenge ?? null);
    if (!challenge) return false;
    this.#tokens.delete(this.#key(host, scope, challenge));
    if (challenge.scheme === 'basic') return !sentAuthorization && this.credential(host).kind === 'basic';
    // A token we sent was refused (expired or revoked): one fresh token is worth a try.
    return !sentAuthorization || known?.scheme === 'bearer';
  }

  #key(host: string, scope: Scope, challenge: Challenge): string {
    return `${host}|${challenge.service ?? ''}|${[...scope].sort().join(' ')}`;
  }

  async #token(host: string, challenge: Challenge, scope: Scope, signal?: AbortSignal): Promise<CachedToken> {
    const key = this.#key(host, scope, challenge);
    const cached = this.#tokens.get(key);
    if (cached && cached.expiresAt > Date.now()) return cached;
    let pending = this.#pending.get(key);
    if (!pending) {
      pending = this.#requestToken(host, challenge, scope, signal).finally(() => this.#pending.delete(key));
      this.#pending.set(key, pending);
    }
    const token = await pending;
    this.#tokens.set(key, token);
    return token;
  }

  async #requestToken(host: string, challenge: Challenge, scope: Scope, signal?: AbortSignal): Promise<CachedToken> {
    if (!challenge.realm) throw new RegistryError('InvalidResponse', host, `${host} asked for a bearer token but named no realm`);
    if (!URL.canParse(challenge.realm)) throw new RegistryError('InvalidResponse', host, `${host} named a token realm that is not a URL`);
    const url = new URL(challenge.realm);
    const scopes = scope.length > 0 ? scope : challenge.scope ? [challenge.scope] : [];
    const credential = this.credential(host);
    const refused = refuseRealm(url, host, credential.kind !== 'anonymous', this.#realmContext(host));
    if (refused) {
      throw new RegistryError('UntrustedRealm', host,
        `${host} asked for a token from ${url.origin}${url.pathname}, refused: ${refused}. ${credential.kind === 'anonymous' ? 'Nothing was sent' : 'Its credentials were not sent'}; if that token server is genuine, list it as a trusted realm for ${host} (docs/operations.md, "Where credentials go")`);
    }
    let response;
    if (credential.kind === 'identityToken') {
      // OAuth2 refresh-token grant, as docker and crane do for identity tokens.
      const form = new URLSearchParams({
        grant_type: 'refresh_token', refresh_token: credential.token, client_id: 'hoist',
        ...(challenge.service && { service: challenge.service }),
        ...(scopes.length > 0 && { scope: scopes.join(' ') }),
      });
      response = await this.#fetchToken({
        registry: host, url, method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: form.toString(), ...(signal && { signal }),
      });
    } else {
      if (challenge.service) url.searchParams.set('service', challenge.service);
      for (const s of scopes) url.searchParams.append('scope', s);
      const headers: Record<string, string> = credential.kind === 'basic' ? { authorization: basicHeader(credential.username, credential.password) } : {};
      response = await this.#fetchToken({ registry: host, url, method: 'GET', headers, ...(signal && { signal }) });
    }
    if (response.status === 401 || response.status === 403) {
      throw new RegistryError('Unauthorized', host,
        `${host}: the token server ${url.origin} refused ${credential.kind === 'anonymous' ? 'anonymous access' : 'the configured credentials'} for ${scopes.join(' ') || 'this registry'}${credential.kind === 'anonymous' ? '; configure credentials for this registry' : '; check the credentials for this registry'}`,
        { status: response.status });
    }
    const value = response.body?.token ?? response.body?.access_token;
    if (response.status !== 200 || !value) {
      throw new RegistryError('InvalidResponse', host, `${host}: token server ${url.origin} answered ${response.status} without a token`, { status: response.status });
    }
    const lifetime = Math.max(response.body?.expires_in ?? 60, 60);
    const issued = response.body?.issued_at ? Date.parse(response.body.issued_at) : Date.now();
    // Refresh a little early so a token never expires in the middle of a request.
    const expiresAt = (Number.isFinite(issued) ? Math.min(issued, Date.now()) : Date.now()) + lifetime * 1000 - 10_000;
    return { value, expiresAt };
  }
}
