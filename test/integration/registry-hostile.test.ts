// A hostile registry, played by the fault proxy in front of a real docker-registry: what it sends
// is untrusted input. Descriptors that are not digests never become URLs (nothing unreviewed is
// written to production), credentials go only where they belong, and no body it sends is read
// without a limit.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, beforeEach, describe, test } from 'node:test';
import { ImageCopier, RegistryClient, RegistryError, StaticCredentials, type Repository } from '../../src/registry/index.ts';
import type { Credential } from '../../src/registry/credentials.ts';
import { startFaultProxy, type FaultProxy } from '../support/fault-proxy.ts';
import { buildImage, MediaType, pushImage, sha256, type BuiltImage } from '../support/images.ts';
import { startRegistry, type TestRegistry } from '../support/registry.ts';
import { tool } from '../support/testbed.ts';

const fastRetries = { attempts: 3, minDelayMs: 10, maxDelayMs: 50 };

/** What the real registry holds under a tag or digest, read directly, not through Hoist. */
async function digestOf(registry: TestRegistry, repo: string, reference: string): Promise<string | undefined> {
  const res = await fetch(`${registry.url}/v2/${repo}/manifests/${reference}`, {
    method: 'HEAD', headers: { accept: [MediaType.ociIndex, MediaType.ociManifest, MediaType.dockerList, MediaType.dockerManifest].join(', ') },
  });
  return res.status === 200 ? res.headers.get('docker-content-digest') ?? undefined : undefined;
}

const rejectsWith = (reason: string, pattern?: RegExp) => (e: unknown) => {
  assert.ok(e instanceof RegistryError, String(e));
  assert.equal(e.reason, reason, e.message);
  if (pattern) assert.match(e.message, pattern);
  return true;
};

/** Serves `bytes` as the manifest `digest` of every repository behind the proxy. */
function serveManifest(proxy: FaultProxy, bytes: Buffer, mediaType: string): string {
  const digest = sha256(bytes);
  proxy.addRule({
    match: { path: new RegExp(`/manifests/${digest}$`) },
    fault: { kind: 'status', status: 200, body: bytes.toString('utf8'), headers: { 'content-type': mediaType, 'docker-content-digest': digest } },
  });
  return digest;
}

describe('descriptors from a hostile registry', () => {
  let staging: TestRegistry;
  let prod: TestRegistry;
  let proxy: FaultProxy;
  let client: RegistryClient;
  let reviewed: BuiltImage;
  let other: BuiltImage;
  let n = 0;
  before(async () => {
    [staging, prod] = await Promise.all([startRegistry(), startRegistry()]);
    proxy = await startFaultProxy(staging.url);
    client = new RegistryClient({ retry: fastRetries });
    // Content that exists in staging but that no manifest names: it must never reach production.
    reviewed = buildImage();
    other = buildImage();
    await pushImage(staging, 'app', reviewed, ['v1.1.0']);
    await pushImage(staging, 'other', other, ['latest']);
  });
  after(async () => { await client.close(); await proxy.close(); await Promise.all([staging.stop(), prod.stop()]); });
  beforeEach(() => { proxy.clearRules(); n += 1; });

  const src = (): Repository => ({ host: proxy.host, name: 'app' });
  const dst = (): Repository => ({ host: prod.host, name: `releases${n}/app` });

  test('an index whose children are a tag and a path is refused; no tag appears in production', async () => {
    const index = Buffer.from(JSON.stringify({
      schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [
        { mediaType: MediaType.ociManifest, digest: 'v1.1.0', size: reviewed.bytes.length },
        { mediaType: MediaType.ociManifest, digest: '../../other/manifests/latest', size: other.bytes.length },
      ],
    }));
    const digest = serveManifest(proxy, index, MediaType.ociIndex);
    await assert.rejects(new ImageCopier(client).copy({ src: src(), dst: dst(), digest, tags: ['v2'] }),
      rejectsWith('InvalidDescriptor', /manifests\[0\] has digest "v1\.1\.0", which is not a sha256 digest/));
    assert.equal(await digestOf(prod, `releases${n}/app`, 'v1.1.0'), undefined, 'no unreviewed tag in the named repository');
    assert.equal(await digestOf(prod, `releases${n}/other`, 'latest'), undefined, 'nothing in a repository the manifest never names');
    assert.equal(await digestOf(prod, `releases${n}/app`, 'v2'), undefined);
    assert.ok(!proxy.requests.some((r) => r.path.includes('v1.1.0') || r.path.includes('..')), 'no URL was built from the descriptors');
  });

  test('an index with one good child and one bad one writes nothing, not even the good child', async () => {
    const good = buildImage();
    await pushImage(staging, 'app', good);
    const index = Buffer.from(JSON.stringify({
      schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [
        { mediaType: MediaType.ociManifest, digest: good.digest, size: good.bytes.length },
        { mediaType: MediaType.ociManifest, digest: `sha512:${'a'.repeat(128)}`, size: 10 },
      ],
    }));
    const digest = serveManifest(proxy, index, MediaType.ociIndex);
    await assert.rejects(new ImageCopier(client).copy({ src: src(), dst: dst(), digest }), rejectsWith('InvalidDescriptor', /only sha256 is supported/));
    assert.equal(await digestOf(prod, `releases${n}/app`, good.digest), undefined);
  });

  test('a child whose size differs from its descriptor is refused', async () => {
    const good = buildImage();
    await pushImage(staging, 'app', good);
    const index = Buffer.from(JSON.stringify({
      schemaVersion: 2, mediaType: MediaType.ociIndex,
      manifests: [{ mediaType: MediaType.ociManifest, digest: good.digest, size: good.bytes.length + 1 }],
    }));
    const digest = serveManifest(proxy, index, MediaType.ociIndex);
    await assert.rejects(new ImageCopier(client).copy({ src: src(), dst: dst(), digest }), rejectsWith('InvalidDescriptor', /declares/));
    assert.equal(await digestOf(prod, `releases${n}/app`, good.digest), undefined);
  });

  test('layers, config and subject must be digests with byte counts', async () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ layers: [{ mediaType: MediaType.ociLayer, digest: 'sha256:../../../other/blobs/x', size: 1 }] }, /layers\[0\] has digest/],
      [{ layers: [{ mediaType: MediaType.ociLayer, digest: reviewed.blobs[1]!.digest, size: -1 }] }, /layers\[0\] has size -1/],
      [{ layers: [{ mediaType: MediaType.ociLayer, digest: reviewed.blobs[1]!.digest, size: '12' }] }, /layers\[0\] has size "12"/],
      [{ config: { mediaType: MediaType.ociConfig, digest: 'latest', size: 2 } }, /config has digest "latest"/],
      [{ subject: { mediaType: MediaType.ociManifest, digest: '../x', size: 2 } }, /subject has digest/],
    ];
    for (const [fields, message] of cases) {
      const manifest = Buffer.from(JSON.stringify({
        schemaVersion: 2, mediaType: MediaType.ociManifest,
        config: { mediaType: MediaType.ociConfig, digest: reviewed.blobs[0]!.digest, size: reviewed.blobs[0]!.size }, layers: [], ...fields,
      }));
      const digest = serveManifest(proxy, manifest, MediaType.ociManifest);
      await assert.rejects(new ImageCopier(client).copy({ src: src(), dst: dst(), digest, tags: ['v3'] }), rejectsWith('InvalidDescriptor', message));
      assert.equal(await digestOf(prod, `releases${n}/app`, 'v3'), undefined);
    }
  });

  test('referrers that are not digests are refused, from the API and from the fallback tag', async () => {
    const subject = reviewed.digest;
    proxy.addRule({
      match: { path: new RegExp(`/referrers/${subject}`) },
      fault: { kind: 'status', status: 200, headers: { 'content-type': MediaType.ociIndex }, body: JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [{ mediaType: MediaType.ociManifest, digest: 'latest', size: 10 }] }) },
    });
    await assert.rejects(client.referrers(src(), subject), rejectsWith('InvalidDescriptor', /referrers of app@.*manifests\[0\] has digest "latest"/));
    proxy.clearRules();
    const fallback = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [{ mediaType: MediaType.ociManifest, digest: '../../other/manifests/latest', size: 10 }] }));
    const tag = subject.replace(':', '-');
    proxy.addRule({
      match: { path: new RegExp(`/manifests/${tag}$`) },
      fault: { kind: 'status', status: 200, body: fallback.toString(), headers: { 'content-type': MediaType.ociIndex, 'docker-content-digest': sha256(fallback) } },
    });
    await assert.rejects(client.referrers(src(), subject), rejectsWith('InvalidDescriptor'));
  });

  test('no URL is built from a reference that is neither a tag nor a digest, whoever passes it', async () => {
    const before = proxy.requests.length;
    await assert.rejects(client.getManifest(src(), '../../other/manifests/latest'), rejectsWith('InvalidReference'));
    await assert.rejects(client.headBlob(src(), 'latest'), rejectsWith('InvalidReference'));
    await assert.rejects(client.putManifest(dst(), 'a/b', { bytes: reviewed.bytes, mediaType: reviewed.mediaType }), rejectsWith('InvalidReference'));
    await assert.rejects(client.listTags({ host: proxy.host, name: '../app' }), rejectsWith('InvalidReference'));
    assert.equal(proxy.requests.length, before, 'nothing was sent');
  });
});

/** A server on another loopback address (another host to the client) that records what reaches it. */
async function startCapture(forwardTo?: string): Promise<{ url: string; seen: { method: string; url: string; headers: IncomingHttpHeaders; body: string }[]; close(): Promise<void> }> {
  const seen: { method: string; url: string; headers: IncomingHttpHeaders; body: string }[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', async () => {
      const body = Buffer.concat(chunks);
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: body.toString('latin1') });
      if (!forwardTo) {
        res.writeHead(401, { 'content-type': 'application/json' });
        return void res.end('{"errors":[{"code":"UNAUTHORIZED"}]}');
      }
      try {
        const headers = Object.fromEntries(Object.entries(req.headers).filter(([k]) => !['host', 'connection', 'content-length', 'transfer-encoding'].includes(k))) as Record<string, string>;
        const upstream = await fetch(new URL(req.url ?? '/', forwardTo), { method: req.method ?? 'GET', headers, ...(body.length > 0 && { body }) });
        const answer = Buffer.from(await upstream.arrayBuffer());
        res.writeHead(upstream.status, Object.fromEntries([...upstream.headers].filter(([k]) => !['content-length', 'transfer-encoding', 'connection', 'content-encoding'].includes(k))));
        res.end(answer);
      } catch {
        res.writeHead(502);
        res.end();
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.2', resolve));
  return {
    url: `http://127.0.0.2:${(server.address() as AddressInfo).port}`,
    seen,
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}

/** A self-signed certificate for 127.0.0.1, made with the test bed's openssl. */
function loopbackCertificate(): { key: string; cert: string } {
  const dir = mkdtempSync(join(tmpdir(), 'hoist-tls-'));
  try {
    execFileSync(tool('openssl'), [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
      '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'), '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1',
    ], { stdio: 'ignore' });
    return { key: readFileSync(join(dir, 'key.pem'), 'utf8'), cert: readFileSync(join(dir, 'cert.pem'), 'utf8') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const withRealm = (realm: string) => ({
  kind: 'headers' as const,
  edit: (headers: Record<string, unknown>) => {
    const challenge = headers['www-authenticate'];
    if (typeof challenge === 'string') headers['www-authenticate'] = challenge.replace(/realm="[^"]*"/, `realm="${realm}"`);
    return headers as never;
  },
});

describe('where a registry\'s credentials may go', () => {
  let registry: TestRegistry;
  let proxy: FaultProxy;
  let image: BuiltImage;
  const password = 'pa55-not-for-strangers';
  const refresh = 'refresh-not-for-strangers';
  before(async () => {
    registry = await startRegistry({ kind: 'token', username: 'bob', password, refreshTokens: { [refresh]: 'bob' } });
    proxy = await startFaultProxy(registry.url);
    image = buildImage();
    await pushImage(registry, 'team/app', image, ['v1']);
  });
  after(async () => { await proxy.close(); await registry.stop(); });
  beforeEach(() => proxy.clearRules());

  const repo = (host = proxy.host): Repository => ({ host, name: 'team/app' });
  const credentialsFor = (host: string, credential: Credential) => new StaticCredentials({ [host]: credential });
  const secrets = (seen: { headers: IncomingHttpHeaders; body: string; url: string }[]) =>
    seen.filter((r) => r.headers.authorization !== undefined || r.body.includes(refresh) || r.url.includes(password));

  test('a token realm on another host never receives the password or the identity token', async () => {
    const capture = await startCapture();
    try {
      proxy.addRule({ fault: withRealm(`${capture.url}/token`) });
      for (const credential of [{ kind: 'basic', username: 'bob', password }, { kind: 'identityToken', token: refresh }] as Credential[]) {
        const client = new RegistryClient({ credentials: credentialsFor(proxy.host, credential), retry: fastRetries });
        try {
          await assert.rejects(client.headManifest(repo(), 'v1'), rejectsWith('UntrustedRealm', /outside the registry's domain 127\.0\.0\.1.*credentials were not sent/));
        } finally {
          await client.close();
        }
      }
      assert.deepEqual(secrets(capture.seen), [], 'no credential reached the foreign realm');
      assert.equal(capture.seen.length, 0);
    } finally {
      await capture.close();
    }
  });

  test('without credentials a foreign realm may issue an anonymous token: nothing secret is sent', async () => {
    const capture = await startCapture();
    try {
      proxy.addRule({ fault: withRealm(`${capture.url}/token`) });
      const client = new RegistryClient({ retry: fastRetries });
      try {
        await assert.rejects(client.headManifest(repo(), 'v1'), rejectsWith('Unauthorized'));
      } finally {
        await client.close();
      }
      assert.equal(capture.seen.length, 1);
      assert.equal(capture.seen[0]!.headers.authorization, undefined);
    } finally {
      await capture.close();
    }
  });

  test('a realm host the user trusts for this registry gets the credentials and the request works', async () => {
    const capture = await startCapture(registry.tokenServer!.realm);
    try {
      proxy.addRule({ fault: withRealm(`${capture.url}/token`) });
      const client = new RegistryClient({
        credentials: credentialsFor(proxy.host, { kind: 'basic', username: 'bob', password }), retry: fastRetries,
        trustedRealms: { [proxy.host]: ['127.0.0.2'] },
      });
      try {
        assert.equal((await client.headManifest(repo(), 'v1'))?.digest, image.digest);
      } finally {
        await client.close();
      }
      assert.ok(capture.seen.length >= 1 && capture.seen.every((r) => r.headers.authorization?.startsWith('Basic ')));
    } finally {
      await capture.close();
    }
  });

  test('an https registry never hands its token exchange to plain http; an https realm on its host works', async () => {
    const tls = loopbackCertificate();
    const secureRegistry = await startFaultProxy(registry.url, { tls });
    const secureTokens = await startFaultProxy(new URL(registry.tokenServer!.realm).origin, { tls });
    const tokenRequests = () => registry.tokenServer!.requests.length;
    try {
      const options = {
        credentials: credentialsFor(secureRegistry.host, { kind: 'basic', username: 'bob', password }), retry: fastRetries,
        secureHosts: [secureRegistry.host, secureTokens.host], ca: tls.cert,
      };
      // docker-registry names its plain-http token server: from an https registry that is refused.
      const before = tokenRequests();
      const client = new RegistryClient(options);
      try {
        await assert.rejects(client.headManifest(repo(secureRegistry.host), 'v1'), rejectsWith('UntrustedRealm', /plain http while the registry is https/));
        assert.equal(tokenRequests(), before, 'the token server heard nothing');
      } finally {
        await client.close();
      }
      secureRegistry.addRule({ fault: withRealm(`${secureTokens.url}/token`) });
      const fixed = new RegistryClient(options);
      try {
        assert.equal((await fixed.headManifest(repo(secureRegistry.host), 'v1'))?.digest, image.digest);
        assert.ok(secureTokens.requests.every((r) => r.headers.authorization?.startsWith('Basic ')) && secureTokens.requests.length >= 1);
      } finally {
        await fixed.close();
      }
    } finally {
      await secureRegistry.close();
      await secureTokens.close();
    }
  });
});

describe('upload locations on another origin', () => {
  const registries: TestRegistry[] = [];
  after(() => Promise.all(registries.map((r) => r.stop())));

  for (const auth of ['basic', 'token'] as const) {
    test(`the ${auth === 'basic' ? 'Basic credentials' : 'bearer token'} of the registry never reach an upload location elsewhere`, async () => {
      const password = `upload-${auth}-secret`;
      const [staging, prod] = await Promise.all([startRegistry(), startRegistry({ kind: auth, username: 'bob', password })]);
      registries.push(staging, prod);
      const image = buildImage({ layers: [20_000] });
      await pushImage(staging, 'app', image, ['v1']);
      const proxy = await startFaultProxy(prod.url);
      const capture = await startCapture(prod.url);
      const client = new RegistryClient({ credentials: new StaticCredentials({ [proxy.host]: { kind: 'basic', username: 'bob', password } }), retry: fastRetries });
      try {
        proxy.addRule({
          match: { method: 'POST', path: /\/blobs\/uploads\/$/ },
          fault: { kind: 'headers', edit: (headers) => {
            const location = new URL(String(headers.location), proxy.url);
            return { ...headers, location: `${capture.url}${location.pathname}${location.search}` };
          } },
        });
        await assert.rejects(new ImageCopier(client).copy({ src: { host: staging.host, name: 'app' }, dst: { host: proxy.host, name: 'prod/app' }, digest: image.digest, tags: ['v1'] }),
          rejectsWith('Unauthorized', /only sent to http:\/\/127\.0\.0\.1/));
        assert.ok(capture.seen.length >= 1, 'the upload went to the location the registry named');
        assert.deepEqual(capture.seen.filter((r) => r.headers.authorization !== undefined).map((r) => r.headers.authorization), [], 'without the registry\'s Authorization');
        assert.ok(proxy.requests.some((r) => r.headers.authorization !== undefined), 'while the registry itself got its credentials');
      } finally {
        await client.close();
        await capture.close();
        await proxy.close();
      }
    });
  }
});

describe('bodies without end', () => {
  let registry: TestRegistry;
  let proxy: FaultProxy;
  let client: RegistryClient;
  const huge = 400 * 1024 * 1024;
  /** Read before the client hung up: the cap plus what the sockets buffered, never the 400 MB. */
  const read = () => proxy.requests.filter((r) => r.fault === 'body').reduce((n, r) => n + r.bytesSent, 0);
  before(async () => {
    registry = await startRegistry();
    proxy = await startFaultProxy(registry.url);
    client = new RegistryClient({ retry: { attempts: 1 } });
    await pushImage(registry, 'app', buildImage(), ['v1']);
  });
  after(async () => { await client.close(); await proxy.close(); await registry.stop(); });
  beforeEach(() => { proxy.clearRules(); proxy.requests.length = 0; });
  const repo = (): Repository => ({ host: proxy.host, name: 'app' });

  test('a 400 MB error page: the error names the status, and only its start is read', async () => {
    for (const chunked of [false, true]) {
      proxy.addRule({ match: { path: /\/manifests\// }, times: 1, fault: { kind: 'body', status: 500, bytes: huge, prefix: '<html>', fill: 'x', chunked } });
      await assert.rejects(client.getManifest(repo(), 'v1'), rejectsWith('ServerError', /answered 500/));
      assert.ok(read() < 32 * 1024 * 1024, `${read()} bytes read of an error page`);
    }
  });

  test('a 400 MB tag list is refused, declared or streamed', async () => {
    for (const chunked of [false, true]) {
      proxy.requests.length = 0;
      proxy.addRule({ match: { path: /\/tags\/list/ }, times: 1, fault: { kind: 'body', status: 200, bytes: huge, prefix: '{"tags":["', fill: 'a', chunked } });
      await assert.rejects(client.listTags(repo()), rejectsWith('ResponseTooLarge', /a page of the tag list of app is larger than 16777216 bytes/));
      assert.ok(read() < 64 * 1024 * 1024, `${read()} bytes read of a tag list`);
    }
  });

  test('400 MB of referrers and of a manifest are refused', async () => {
    const subject = `sha256:${'1'.repeat(64)}`;
    proxy.addRule({ match: { path: /\/referrers\// }, times: 1, fault: { kind: 'body', status: 200, bytes: huge, prefix: '{"manifests":[', fill: ' ', chunked: true, headers: { 'content-type': MediaType.ociIndex } } });
    await assert.rejects(client.referrers(repo(), subject), rejectsWith('ResponseTooLarge', /referrers of app@/));
    proxy.addRule({ match: { path: /\/manifests\/v1/ }, times: 1, fault: { kind: 'body', status: 200, bytes: huge, prefix: '{', fill: ' ', chunked: true } });
    await assert.rejects(client.getManifest(repo(), 'v1'), rejectsWith('ResponseTooLarge', /manifest app:v1 is larger than/));
    assert.ok(read() < 64 * 1024 * 1024, `${read()} bytes read`);
  });

  test('a 400 MB token answer is refused', async () => {
    const secured = await startRegistry({ kind: 'token', username: 'bob', password: 'pw' });
    const tokens = await startFaultProxy(new URL(secured.tokenServer!.realm).origin);
    const front = await startFaultProxy(secured.url);
    const authed = new RegistryClient({ retry: { attempts: 1 }, credentials: new StaticCredentials({ [front.host]: { kind: 'basic', username: 'bob', password: 'pw' } }) });
    try {
      front.addRule({ fault: withRealm(`${tokens.url}/token`) });
      tokens.addRule({ fault: { kind: 'body', status: 200, bytes: huge, prefix: '{"token":"', fill: 'a', chunked: true } });
      await assert.rejects(authed.headManifest({ host: front.host, name: 'app' }, 'v1'), rejectsWith('ResponseTooLarge', /token server .* is larger than 1048576 bytes/));
      const sent = tokens.requests.reduce((n, r) => n + r.bytesSent, 0);
      assert.ok(sent < 32 * 1024 * 1024, `${sent} bytes of token read`);
    } finally {
      await authed.close();
      await front.close();
      await tokens.close();
      await secured.stop();
    }
  });
});

async function readAll(stream: AsyncIterable<Buffer>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk);
  return Buffer.concat(chunks);
}

describe('a registry outside the internal networks never sends a request into them', () => {
  // Everything here runs on loopback, so the client is told that loopback is not internal:
  // the registry behind the proxy then stands for one on the internet.
  const outside = ['10.0.0.0/8', '169.254.0.0/16', '172.16.0.0/12', '192.168.0.0/16', 'fc00::/7', 'fe80::/10'];
  let registry: TestRegistry;
  let proxy: FaultProxy;
  let image: BuiltImage;
  before(async () => {
    registry = await startRegistry();
    proxy = await startFaultProxy(registry.url);
    image = buildImage({ layers: [3000] });
    await pushImage(registry, 'app', image, ['v1']);
  });
  after(async () => { await proxy.close(); await registry.stop(); });
  beforeEach(() => { proxy.clearRules(); proxy.requests.length = 0; });
  const layer = () => image.blobs[1]!;
  const redirectBlobTo = (target: string) => proxy.addRule({ match: { method: 'GET', path: /\/blobs\/sha256:/ }, fault: { kind: 'status', status: 307, headers: { location: target } } });

  for (const target of ['http://169.254.169.254/latest/meta-data/', 'http://10.1.2.3/blob', 'http://[fe80::1]/blob', 'http://[::ffff:169.254.169.254]/x', 'http://localhost:1/blob']) {
    test(`a blob redirect to ${target} is refused before anything is sent`, async () => {
      const client = new RegistryClient({ retry: fastRetries, internalNetworks: outside });
      try {
        redirectBlobTo(target);
        await assert.rejects(client.getBlob({ host: proxy.host, name: 'app' }, layer().digest), rejectsWith('RedirectRefused', /an internal address/));
        assert.equal(client.stats.retries, 0, 'refused, not retried');
      } finally {
        await client.close();
      }
    });
  }

  test('a token realm on an internal address is refused before anything is sent', async () => {
    const client = new RegistryClient({ retry: fastRetries, internalNetworks: outside });
    try {
      proxy.addRule({ fault: { kind: 'status', status: 401, headers: { 'www-authenticate': 'Bearer realm="https://169.254.169.254/token",service="registry"' } } });
      await assert.rejects(client.headManifest({ host: proxy.host, name: 'app' }, 'v1'), rejectsWith('RedirectRefused', /token request to https:\/\/169\.254\.169\.254/));
    } finally {
      await client.close();
    }
  });

  test('an upload location on an internal address is refused; nothing is written', async () => {
    const prod = await startRegistry();
    const front = await startFaultProxy(prod.url);
    const client = new RegistryClient({ retry: fastRetries, internalNetworks: outside });
    try {
      front.addRule({ match: { method: 'POST', path: /\/blobs\/uploads\/$/ }, fault: { kind: 'headers', edit: (headers) => ({ ...headers, location: 'http://192.168.0.10/v2/app/blobs/uploads/x' }) } });
      await assert.rejects(new ImageCopier(client).copy({ src: { host: proxy.host, name: 'app' }, dst: { host: front.host, name: 'app' }, digest: image.digest, tags: ['v1'] }),
        rejectsWith('RedirectRefused', /192\.168\.0\.10/));
      assert.equal(await digestOf(prod, 'app', 'v1'), undefined);
    } finally {
      await client.close();
      await front.close();
      await prod.stop();
    }
  });

  test('a redirect to another host outside the internal networks is followed, without credentials', async () => {
    const capture = await startCapture(registry.url);
    const client = new RegistryClient({ retry: fastRetries, internalNetworks: outside });
    try {
      redirectBlobTo(`${capture.url}/v2/app/blobs/${layer().digest}`);
      const blob = await client.getBlob({ host: proxy.host, name: 'app' }, layer().digest);
      assert.equal(sha256(await readAll(blob)), layer().digest);
      assert.equal(capture.seen.length, 1);
    } finally {
      await client.close();
      await capture.close();
    }
  });

  test('a registry on an internal address may redirect to another internal host (in-cluster storage)', async () => {
    const capture = await startCapture(registry.url);
    const client = new RegistryClient({ retry: fastRetries });
    try {
      redirectBlobTo(`${capture.url}/v2/app/blobs/${layer().digest}`);
      const blob = await client.getBlob({ host: proxy.host, name: 'app' }, layer().digest);
      assert.equal(sha256(await readAll(blob)), layer().digest);
    } finally {
      await client.close();
      await capture.close();
    }
  });
});

describe('what of a registry\'s error body reaches a message', () => {
  let registry: TestRegistry;
  let proxy: FaultProxy;
  let client: RegistryClient;
  before(async () => {
    registry = await startRegistry();
    proxy = await startFaultProxy(registry.url);
    client = new RegistryClient({ retry: { attempts: 1 } });
  });
  after(async () => { await client.close(); await proxy.close(); await registry.stop(); });
  beforeEach(() => proxy.clearRules());
  const answer = (body: string, contentType = 'application/json') =>
    proxy.addRule({ match: { path: /\/manifests\// }, times: 1, fault: { kind: 'status', status: 400, body, headers: { 'content-type': contentType } } });
  const messageOf = async () => {
    try {
      await client.getManifest({ host: proxy.host, name: 'app' }, 'v1');
    } catch (error) {
      assert.ok(error instanceof RegistryError);
      return error.message;
    }
    assert.fail('no error');
  };

  test('the distribution format: code and message are quoted, cleaned of control characters and cut short', async () => {
    answer(JSON.stringify({ errors: [{ code: 'MANIFEST_INVALID', message: `bad\u001b[31m red\r\nline\u202e${'x'.repeat(1000)}`, detail: { secret: 'never-shown' } }] }));
    const message = await messageOf();
    assert.match(message, /answered 400 \(MANIFEST_INVALID: bad \[31m red line x+…\)$/);
    assert.doesNotMatch(message, /[\u0000-\u001f\u007f-\u009f\u202e]/);
    assert.doesNotMatch(message, /never-shown/);
    assert.ok(message.length < 500, `${message.length} characters`);
  });

  test('other JSON is not echoed: the status and content type only', async () => {
    answer(JSON.stringify({ message: 'internal: db password=hunter2', stack: 'at foo' }));
    const message = await messageOf();
    assert.doesNotMatch(message, /hunter2|stack/);
    assert.match(message, /answered 400 \(a application\/json body that is not a registry error\)/);
  });

  test('errors that are not the format\'s strings are not echoed either', async () => {
    answer(JSON.stringify({ errors: [{ code: { nested: 'hunter2' }, message: ['hunter2'] }] }));
    assert.doesNotMatch(await messageOf(), /hunter2/);
    answer('<html>hunter2</html>', 'text/html; charset="hunter2"');
    const message = await messageOf();
    assert.doesNotMatch(message, /hunter2/);
    assert.match(message, /answered 400 \(a text\/html body that is not a registry error\)/);
  });
});
