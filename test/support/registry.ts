// Real OCI registries for tests: Debian's docker-registry (CNCF distribution 2.8) on loopback
// ports with temporary storage, anonymous, with htpasswd basic auth, or with bearer tokens.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, startServer, waitUntil, type Server } from './process.ts';
import { tool } from './testbed.ts';
import { startTokenServer, type TokenServer } from './token-server.ts';

export type RegistryAuth =
  | { kind: 'none' }
  | { kind: 'basic'; username: string; password: string }
  | { kind: 'token'; username: string; password: string; expiresIn?: number; anonymousPull?: boolean; refreshTokens?: Record<string, string> };

export interface TestRegistry {
  /** host:port, the registry's name in image references. */
  host: string;
  url: string;
  auth: RegistryAuth;
  tokenServer?: TokenServer;
  server: Server;
  stop(): Promise<void>;
}

function htpasswd(dir: string, username: string, password: string): string {
  const path = join(dir, 'htpasswd');
  // docker-registry accepts only bcrypt entries.
  const line = execFileSync(tool('htpasswd'), ['-nbB', username, password], { encoding: 'utf8' }).trim();
  writeFileSync(path, `${line}\n`);
  return path;
}

export async function startRegistry(auth: RegistryAuth = { kind: 'none' }): Promise<TestRegistry> {
  const dir = mkdtempSync(join(tmpdir(), 'hoist-registry-'));
  const port = await freePort();
  let authBlock = '';
  let tokenServer: TokenServer | undefined;
  if (auth.kind === 'basic') {
    authBlock = `auth:\n  htpasswd:\n    realm: hoist-test\n    path: ${htpasswd(dir, auth.username, auth.password)}\n`;
  } else if (auth.kind === 'token') {
    tokenServer = await startTokenServer({
      users: { [auth.username]: auth.password },
      ...(auth.expiresIn !== undefined && { expiresIn: auth.expiresIn }),
      ...(auth.anonymousPull !== undefined && { anonymousPull: auth.anonymousPull }),
      ...(auth.refreshTokens !== undefined && { refreshTokens: auth.refreshTokens }),
    });
    authBlock = [
      'auth:', '  token:', `    realm: ${tokenServer.realm}`, `    service: ${tokenServer.service}`,
      `    issuer: ${tokenServer.issuer}`, `    rootcertbundle: ${tokenServer.certPath}`, '',
    ].join('\n');
  }
  const config = join(dir, 'config.yml');
  writeFileSync(config, [
    'version: 0.1',
    'log:', '  level: warn', '  accesslog:', '    disabled: true',
    'storage:', '  filesystem:', `    rootdirectory: ${join(dir, 'data')}`, '  delete:', '    enabled: true',
    'http:', `  addr: 127.0.0.1:${port}`, '  secret: hoist-test-secret',
    authBlock,
  ].join('\n'));
  const server = startServer(`docker-registry :${port}`, tool('docker-registry'), ['serve', config]);
  const url = `http://127.0.0.1:${port}`;
  await waitUntil(server, 'answering /v2/', async () => {
    const res = await fetch(`${url}/v2/`);
    await res.arrayBuffer();
    return res.status === 200 || res.status === 401;
  });
  return {
    host: `127.0.0.1:${port}`,
    url,
    auth,
    server,
    ...(tokenServer && { tokenServer }),
    async stop() {
      await server.stop();
      await tokenServer?.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export async function startRegistries(count: number, auth?: RegistryAuth): Promise<TestRegistry[]> {
  return Promise.all(Array.from({ length: count }, () => startRegistry(auth)));
}
