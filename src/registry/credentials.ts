// Registry credentials, from a `kubernetes.io/dockerconfigjson` document (the format of
// ~/.docker/config.json and of image pull Secrets) or given directly.

export type Credential =
  | { kind: 'anonymous' }
  | { kind: 'basic'; username: string; password: string }
  /** An OAuth2 refresh token (`identitytoken`), exchanged at the token endpoint. */
  | { kind: 'identityToken'; token: string; username?: string };

export const anonymous: Credential = { kind: 'anonymous' };

/** Looks credentials up by registry host. */
export interface CredentialStore {
  get(host: string): Credential;
}

export class StaticCredentials implements CredentialStore {
  readonly #byHost: Map<string, Credential>;
  constructor(entries: Record<string, Credential> = {}) {
    this.#byHost = new Map(Object.entries(entries).map(([host, credential]) => [normalizeHost(host), credential]));
  }
  get(host: string): Credential {
    return this.#byHost.get(normalizeHost(host)) ?? anonymous;
  }
  /** Credentials of `other` win where both name a host. */
  merge(other: StaticCredentials): StaticCredentials {
    const merged = new StaticCredentials();
    for (const [host, credential] of [...this.#byHost, ...other.#byHost]) merged.#byHost.set(host, credential);
    return merged;
  }
  get hosts(): string[] {
    return [...this.#byHost.keys()];
  }
}

/**
 * `auths` keys come in many spellings: `registry.example`, `https://registry.example/v1/`,
 * `http://127.0.0.1:5000`. Docker Hub's legacy key maps to its registry host.
 */
function normalizeHost(key: string): string {
  let host = key.trim().replace(/^[a-z]+:\/\//i, '');
  host = host.split('/')[0] ?? host;
  host = host.toLowerCase();
  if (host === 'index.docker.io' || host === 'docker.io') return 'registry-1.docker.io';
  return host;
}

interface AuthEntry { auth?: unknown; username?: unknown; password?: unknown; identitytoken?: unknown }

/** Parses a dockerconfigjson document. Errors name the entry, never its secret. */
export function parseDockerConfig(text: string, source = 'dockerconfigjson'): StaticCredentials {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (error) {
    // Only the position: V8's message quotes the text around it, which may be a password.
    const position = /position (\d+)/.exec((error as Error).message)?.[1];
    throw new Error(`${source}: not valid JSON${position ? ` (at position ${position})` : ''}`);
  }
  const auths = (doc as { auths?: unknown })?.auths;
  if (auths === undefined) return new StaticCredentials();
  if (typeof auths !== 'object' || auths === null || Array.isArray(auths)) {
    throw new Error(`${source}: "auths" must be an object keyed by registry host`);
  }
  const entries: Record<string, Credential> = {};
  for (const [key, value] of Object.entries(auths as Record<string, AuthEntry>)) {
    const where = `${source}: auths["${key}"]`;
    if (typeof value !== 'object' || value === null) throw new Error(`${where} must be an object`);
    let username = typeof value.username === 'string' ? value.username : undefined;
    let password = typeof value.password === 'string' ? value.password : undefined;
    if (typeof value.auth === 'string' && value.auth !== '') {
      const decoded = Buffer.from(value.auth, 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      if (colon < 0) throw new Error(`${where}.auth must be base64 of "username:password"`);
      username = decoded.slice(0, colon);
      password = decoded.slice(colon + 1);
    }
    if (typeof value.identitytoken === 'string' && value.identitytoken !== '') {
      entries[key] = { kind: 'identityToken', token: value.identitytoken, ...(username && { username }) };
    } else if (username !== undefined && password !== undefined) {
      entries[key] = { kind: 'basic', username, password };
    } else if (username !== undefined || password !== undefined) {
      throw new Error(`${where} has a username or a password but not both`);
    }
  }
  return new StaticCredentials(entries);
}
