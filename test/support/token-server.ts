// A bearer-token server for docker-registry's `auth.token` mode, as Docker Hub, GHCR or Harbor
// run one: HTTP basic credentials in, a signed JWT with the granted repository actions out.
import { execFileSync } from 'node:child_process';
import { createPrivateKey, sign, X509Certificate, type KeyObject } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { createServer, type Server, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tool } from './testbed.ts';

export interface TokenServer {
  realm: string;
  service: string;
  issuer: string;
  certPath: string;
  /** Every token request seen, to assert on scopes and caching. */
  requests: { scopes: string[]; user: string | undefined }[];
  /**
   * The next this-many tokens are signed already expired while claiming a normal lifetime, as a
   * revoked token or a skewed clock would look to a client: the registry refuses them.
   */
  expireNext: number;
  close(): Promise<void>;
}

export interface TokenServerOptions {
  users: Record<string, string>;
  /** Seconds a token lives; short values exercise refresh. */
  expiresIn?: number;
  /** Anonymous callers get pull on every repository when true. */
  anonymousPull?: boolean;
  /** OAuth2 refresh tokens (docker's `identitytoken`) accepted by the POST grant, to their user. */
  refreshTokens?: Record<string, string>;
}

function base64url(data: Buffer | string): string {
  return Buffer.from(data).toString('base64url');
}

function makeKeyPair(dir: string): { key: KeyObject; certPath: string; der: Buffer } {
  const keyPath = join(dir, 'token.key');
  const certPath = join(dir, 'token.crt');
  execFileSync(tool('openssl'), [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', keyPath, '-out', certPath, '-days', '2', '-subj', '/CN=hoist-test-token-issuer',
  ], { stdio: 'ignore' });
  const cert = new X509Certificate(readFileSync(certPath));
  return { key: createPrivateKey(readFileSync(keyPath)), certPath, der: cert.raw };
}

export async function startTokenServer(options: TokenServerOptions): Promise<TokenServer> {
  const dir = mkdtempSync(join(tmpdir(), 'hoist-token-'));
  const { key, certPath, der } = makeKeyPair(dir);
  const service = 'hoist-test-registry';
  const issuer = 'hoist-test-issuer';
  const requests: TokenServer['requests'] = [];

  const state = { expireNext: 0 };
  const server: Server = createServer((req, res) => {
    if (req.method === 'POST') {
      // The OAuth2 form: the same parameters in the body, a refresh token instead of a password.
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (chunk: string) => { body += chunk; });
      req.on('end', () => {
        const form = new URLSearchParams(body);
        const user = form.get('grant_type') === 'refresh_token' ? options.refreshTokens?.[form.get('refresh_token') ?? ''] : undefined;
        if (!user) {
          res.writeHead(401, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'invalid refresh token' }] }));
          return;
        }
        issue(res, (form.get('scope') ?? '').split(' ').filter(Boolean), user);
      });
      return;
    }
    const url = new URL(req.url ?? '/', 'http://localhost');
    const scopes = url.searchParams.getAll('scope').flatMap((s) => s.split(' ')).filter(Boolean);
    let user: string | undefined;
    const header = req.headers.authorization;
    if (header?.startsWith('Basic ')) {
      const [name, ...rest] = Buffer.from(header.slice(6), 'base64').toString('utf8').split(':');
      if (name === undefined || options.users[name] !== rest.join(':')) {
        res.writeHead(401, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'invalid username or password' }] }));
        return;
      }
      user = name;
    }
    issue(res, scopes, user);
  });

  function issue(res: ServerResponse, scopes: string[], user: string | undefined): void {
    requests.push({ scopes, user });
    const access = scopes.flatMap((scope) => {
      const [type, ...middle] = scope.split(':');
      const actions = middle.pop()?.split(',') ?? [];
      const name = middle.join(':');
      const granted = user ? actions : options.anonymousPull ? actions.filter((a) => a === 'pull') : [];
      return granted.length ? [{ type, name, actions: granted }] : [];
    });
    const now = Math.floor(Date.now() / 1000);
    const expiresIn = options.expiresIn ?? 300;
    let exp = now + expiresIn;
    if (state.expireNext > 0) {
      state.expireNext -= 1;
      exp = now - 600; // beyond docker-registry's 60 s leeway
    }
    const head = base64url(JSON.stringify({ typ: 'JWT', alg: 'ES256', x5c: [der.toString('base64')] }));
    const claims = base64url(JSON.stringify({
      iss: issuer, sub: user ?? '', aud: service, exp, nbf: now - 5, iat: now,
      jti: `${now}-${requests.length}`, access,
    }));
    const signature = sign('sha256', Buffer.from(`${head}.${claims}`), { key, dsaEncoding: 'ieee-p1363' });
    const token = `${head}.${claims}.${base64url(signature)}`;
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ token, access_token: token, expires_in: expiresIn, issued_at: new Date(now * 1000).toISOString() }));
  }
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (!address || typeof address !== 'object') throw new Error('token server has no address');
  return {
    realm: `http://127.0.0.1:${address.port}/token`,
    service,
    issuer,
    certPath,
    requests,
    get expireNext() { return state.expireNext; },
    set expireNext(n: number) { state.expireNext = n; },
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}
