// The registry client against real docker-registry instances: copies keep digests (checked
// with crane and skopeo), a second copy writes nothing, mounts move no bytes, auth works in
// every mode and fails clearly, tags page.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ImageCopier, parseDockerConfig, RegistryClient, RegistryError, StaticCredentials, sha256, type Repository } from '../../src/registry/index.ts';
import { buildImage, buildIndex, pushImage, type BuiltImage } from '../support/images.ts';
import { startRegistry, type TestRegistry } from '../support/registry.ts';
import { startFaultProxy } from '../support/fault-proxy.ts';
import { runTool } from '../support/testbed.ts';

const crane = async (...args: string[]) => (await runTool('crane', args)).trim();
const skopeoRaw = (ref: string, creds?: string) =>
  runTool('skopeo', ['inspect', '--raw', '--tls-verify=false', ...(creds ? ['--creds', creds] : []), `docker://${ref}`]);
const repo = (registry: TestRegistry, name: string): Repository => ({ host: registry.host, name });
const writes = (client: RegistryClient) =>
  client.stats.count({ method: 'PUT' }) + client.stats.count({ method: 'POST' }) + client.stats.count({ method: 'PATCH' });

describe('copy between anonymous registries', () => {
  let staging: TestRegistry;
  let prod: TestRegistry;
  let client: RegistryClient;
  before(async () => {
    [staging, prod] = await Promise.all([startRegistry(), startRegistry()]);
    client = new RegistryClient();
  });
  after(async () => { await client.close(); await Promise.all([staging.stop(), prod.stop()]); });

  test('a single-arch image arrives with the same digest and tags; a second copy writes nothing', async () => {
    const image = buildImage({ layers: [300_000, 5000] });
    await pushImage(staging, 'team/app', image, ['v1']);
    const copier = new ImageCopier(client);
    const first = await copier.copy({ src: repo(staging, 'team/app'), dst: repo(prod, 'team/app'), digest: image.digest, tags: ['v1', 'stable'] });
    assert.equal(first.alreadyPresent, false);
    assert.equal(first.blobsCopied, 3); // config + 2 layers
    assert.deepEqual(first.tagsWritten, ['v1', 'stable']);
    assert.equal(await crane('digest', '--insecure', `${prod.host}/team/app:stable`), image.digest);
    assert.equal(await skopeoRaw(`${prod.host}/team/app:v1`), image.bytes.toString('utf8'));

    const before = writes(client);
    const reads = client.stats.count();
    const second = await copier.copy({ src: repo(staging, 'team/app'), dst: repo(prod, 'team/app'), digest: image.digest, tags: ['v1', 'stable'] });
    assert.equal(second.alreadyPresent, true);
    assert.deepEqual(second.tagsWritten, []);
    assert.equal(writes(client) - before, 0, 'a second copy must not write');
    assert.equal(client.stats.count() - reads, 2, 'one HEAD per tag, read again before it would be written; the digest this client just wrote needs none');
    const fresh = new RegistryClient();
    try {
      const again = await new ImageCopier(fresh).copy({ src: repo(staging, 'team/app'), dst: repo(prod, 'team/app'), digest: image.digest, tags: ['v1', 'stable'] });
      assert.equal(again.alreadyPresent, true);
      assert.equal(fresh.stats.count(), 3, 'a client that knows nothing reads the digest and each tag');
    } finally {
      await fresh.close();
    }
  });

  test('a multi-arch index (OCI and Docker list) arrives with all children and the same digest', async () => {
    for (const format of ['oci', 'docker'] as const) {
      const index = buildIndex({ format });
      await pushImage(staging, `multi/${format}`, index, ['v2']);
      const result = await new ImageCopier(client).copy({ src: repo(staging, `multi/${format}`), dst: repo(prod, `multi/${format}`), digest: index.digest, tags: ['v2'] });
      assert.equal(result.manifestsWritten, 1 + index.children.length);
      assert.equal(await crane('digest', '--insecure', `${prod.host}/multi/${format}:v2`), index.digest);
      for (const child of index.children) {
        assert.equal(await crane('digest', '--insecure', `${prod.host}/multi/${format}@${child.digest}`), child.digest);
      }
      assert.equal(await skopeoRaw(`${prod.host}/multi/${format}:v2`), index.bytes.toString('utf8'));
    }
  });

  test('inside one registry, blobs are mounted: no blob bytes pass through the client', async () => {
    const image = buildImage({ layers: [200_000, 100_000] });
    await pushImage(staging, 'src/app', image);
    const bytesBefore = client.stats.bytesRead + client.stats.bytesWritten;
    const result = await new ImageCopier(client).copy({ src: repo(staging, 'src/app'), dst: repo(staging, 'dst/app'), digest: image.digest });
    assert.equal(result.blobsMounted, 3);
    assert.equal(result.blobsCopied, 0);
    const moved = client.stats.bytesRead + client.stats.bytesWritten - bytesBefore;
    assert.ok(moved < 2 * image.bytes.length + 100, `only manifest bytes should move, moved ${moved}`);
    assert.equal(await crane('digest', '--insecure', `${staging.host}/dst/app@${image.digest}`), image.digest);
  });

  test('a destination tag on another digest is reported and never moved', async () => {
    const [a, b] = [buildImage(), buildImage()];
    await pushImage(staging, 'tags/app', a);
    await pushImage(prod, 'tags/app', b, ['v1']);
    const result = await new ImageCopier(client).copy({ src: repo(staging, 'tags/app'), dst: repo(prod, 'tags/app'), digest: a.digest, tags: ['v1', 'v1-a'] });
    assert.deepEqual(result.tagConflicts, [{ tag: 'v1', digest: b.digest }]);
    assert.deepEqual(result.tagsWritten, ['v1-a']);
    assert.equal(await crane('digest', '--insecure', `${prod.host}/tags/app:v1`), b.digest);
  });

  test('a copy into a repository the client just listed empty skips the reads whose answer it knows', async () => {
    const image = buildImage({ layers: [5000, 7000] });
    await pushImage(staging, 'lean/app', image);
    const lean = new RegistryClient();
    try {
      const dst = repo(prod, 'lean/app');
      assert.deepEqual(await lean.listTagsOrEmpty(dst), []);
      const before = lean.stats.count({ host: prod.host });
      await new ImageCopier(lean).copy({ src: repo(staging, 'lean/app'), dst, digest: image.digest, tags: ['v1'] });
      const byMethod = (method: string) => lean.stats.count({ host: prod.host, method });
      // Per blob an upload session and its PUT; the tag read again right before it is written; the manifest.
      assert.equal(lean.stats.count({ host: prod.host }) - before, 2 * image.blobs.length + 2);
      assert.equal(byMethod('HEAD'), 1, 'only the tag re-read: no digest HEAD, no blob HEADs');
      assert.equal(await crane('digest', '--insecure', `${prod.host}/lean/app:v1`), image.digest);
      // Inside one registry, into another empty repository: mounts, no HEADs before them, and
      // the manifest just written is not read back.
      const other = repo(prod, 'lean/other');
      await lean.listTagsOrEmpty(other);
      const gets = byMethod('GET');
      const heads = byMethod('HEAD');
      const result = await new ImageCopier(lean).copy({ src: dst, dst: other, digest: image.digest, tags: ['v1'] });
      assert.equal(result.blobsMounted, image.blobs.length);
      assert.equal(byMethod('HEAD') - heads, 1);
      assert.ok(byMethod('GET') - gets <= 2, 'the list, and at most the source manifest');
      assert.equal(await crane('digest', '--insecure', `${prod.host}/lean/other:v1`), image.digest);
    } finally {
      await lean.close();
    }
  });

  test('chunked uploads stream a large layer in PATCH pieces and keep the digest', async () => {
    const chunked = new RegistryClient({ uploadChunkBytes: 64 * 1024 });
    try {
      const image = buildImage({ layers: [400_000] });
      await pushImage(staging, 'chunk/app', image);
      await new ImageCopier(chunked).copy({ src: repo(staging, 'chunk/app'), dst: repo(prod, 'chunk/app'), digest: image.digest, tags: ['v1'] });
      assert.ok(chunked.stats.count({ method: 'PATCH' }) >= 6, `expected >= 6 PATCH requests, saw ${chunked.stats.count({ method: 'PATCH' })}`);
      assert.equal(await crane('digest', '--insecure', `${prod.host}/chunk/app:v1`), image.digest);
      await crane('validate', '--insecure', '--remote', `${prod.host}/chunk/app:v1`);
    } finally {
      await chunked.close();
    }
  });

  test('tags list across pages; a missing repository is RepositoryNotFound, or empty on request', async () => {
    const image = buildImage();
    const tags = Array.from({ length: 25 }, (_, i) => `t${String(i).padStart(2, '0')}`);
    await pushImage(staging, 'paged/app', image, tags);
    // distribution 2.8 ignores `n`; the proxy pages the way distribution 3, GHCR and Docker Hub do.
    const proxy = await startFaultProxy(staging.url);
    proxy.setTagPageSize(10);
    try {
      assert.deepEqual(await client.listTags({ host: proxy.host, name: 'paged/app' }), tags);
      assert.deepEqual(proxy.requests.map((r) => r.path), [
        '/v2/paged/app/tags/list', '/v2/paged/app/tags/list?n=10&last=t09', '/v2/paged/app/tags/list?n=10&last=t19',
      ]);
      assert.deepEqual((await client.listTags({ host: proxy.host, name: 'paged/app' }, { pageSize: 7 })).length, 25);
    } finally {
      await proxy.close();
    }
    await assert.rejects(client.listTags(repo(staging, 'no/such')), (e: unknown) => e instanceof RegistryError && e.reason === 'RepositoryNotFound' && e.message.includes(staging.host));
    assert.deepEqual(await client.listTagsOrEmpty(repo(staging, 'no/such')), []);
  });

  test('referrers fall back to the sha256-<hex> tag on a registry without the referrers API', async () => {
    const image = buildImage();
    await pushImage(prod, 'ref/app', image);
    const empty = Buffer.from('{}');
    await pushImage(prod, 'ref/app', { digest: sha256(empty), mediaType: 'application/vnd.oci.empty.v1+json', bytes: empty, blobs: [{ digest: sha256(empty), size: 2, mediaType: 'application/vnd.oci.empty.v1+json', data: empty }], children: [] } satisfies BuiltImage).catch(() => undefined);
    const artifact = Buffer.from(JSON.stringify({
      schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', artifactType: 'application/vnd.hoist.test',
      config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: sha256(empty), size: 2 },
      layers: [{ mediaType: 'application/vnd.oci.empty.v1+json', digest: sha256(empty), size: 2 }],
      subject: { mediaType: image.mediaType, digest: image.digest, size: image.bytes.length },
    }));
    const r = repo(prod, 'ref/app');
    assert.deepEqual(await client.referrers(r, image.digest), []);
    const digest = await client.pushReferrer(r, { bytes: artifact, mediaType: 'application/vnd.oci.image.manifest.v1+json', artifactType: 'application/vnd.hoist.test' }, image.digest);
    const found = await client.referrers(r, image.digest, { artifactType: 'application/vnd.hoist.test' });
    assert.deepEqual(found.map((d) => d.digest), [digest]);
    assert.equal((await crane('digest', '--insecure', `${prod.host}/ref/app:${image.digest.replace(':', '-')}`)).length, 71);
    assert.deepEqual(await client.referrers(r, image.digest, { artifactType: 'application/other' }), []);
  });
});

describe('authentication', () => {
  const registries: TestRegistry[] = [];
  after(() => Promise.all(registries.map((r) => r.stop())));

  test('copies from a basic-auth registry to a token-auth one with dockerconfigjson credentials', async () => {
    const src = await startRegistry({ kind: 'basic', username: 'alice', password: 's3cret' });
    const dst = await startRegistry({ kind: 'token', username: 'bob', password: 'tok3n' });
    registries.push(src, dst);
    const image = buildIndex();
    await pushImage(src, 'secure/app', image, ['v1']);
    const config = JSON.stringify({ auths: {
      [`http://${src.host}`]: { auth: Buffer.from('alice:s3cret').toString('base64') },
      [dst.host]: { username: 'bob', password: 'tok3n' },
    } });
    const client = new RegistryClient({ credentials: parseDockerConfig(config) });
    try {
      await new ImageCopier(client).copy({ src: repo(src, 'secure/app'), dst: repo(dst, 'prod/app'), digest: image.digest, tags: ['v1'] });
      assert.equal(await skopeoRaw(`${dst.host}/prod/app:v1`, 'bob:tok3n'), image.bytes.toString('utf8'));
      const scopes = dst.tokenServer!.requests.map((r) => r.scopes.join(' '));
      assert.ok(scopes.includes('repository:prod/app:pull,push'), `token scopes: ${scopes.join(' | ')}`);
      // Tokens are cached per scope: a whole index copy needs only a few.
      assert.ok(dst.tokenServer!.requests.length <= 3, `${dst.tokenServer!.requests.length} token requests`);
    } finally {
      await client.close();
    }
  });

  test('an identity token from dockerconfigjson is exchanged with the OAuth2 refresh-token grant', async () => {
    const registry = await startRegistry({ kind: 'token', username: 'bob', password: 'tok3n', refreshTokens: { 'refresh-abc': 'bob' } });
    registries.push(registry);
    const image = buildImage();
    await pushImage(registry, 'oauth/app', image, ['v1']);
    const config = JSON.stringify({ auths: { [registry.host]: { auth: Buffer.from('<token>:').toString('base64'), identitytoken: 'refresh-abc' } } });
    const client = new RegistryClient({ credentials: parseDockerConfig(config) });
    try {
      assert.equal((await client.headManifest(repo(registry, 'oauth/app'), 'v1'))?.digest, image.digest);
      assert.deepEqual(registry.tokenServer!.requests.at(-1), { scopes: ['repository:oauth/app:pull'], user: 'bob' });
    } finally {
      await client.close();
    }
  });

  test('wrong or missing credentials fail with a clear error naming the registry', async () => {
    const basic = await startRegistry({ kind: 'basic', username: 'alice', password: 's3cret' });
    const token = await startRegistry({ kind: 'token', username: 'bob', password: 'tok3n' });
    registries.push(basic, token);
    const cases: [TestRegistry, StaticCredentials, RegExp][] = [
      [basic, new StaticCredentials({ [basic.host]: { kind: 'basic', username: 'alice', password: 'wrong' } }), /refused the configured credentials/],
      [basic, new StaticCredentials(), /refused anonymous access.*configure credentials/],
      [token, new StaticCredentials({ [token.host]: { kind: 'basic', username: 'bob', password: 'wrong' } }), /token server .* refused the configured credentials/],
    ];
    for (const [registry, credentials, message] of cases) {
      const client = new RegistryClient({ credentials, retry: { attempts: 1 } });
      try {
        await assert.rejects(client.listTags(repo(registry, 'any/app')), (e: unknown) => {
          assert.ok(e instanceof RegistryError, String(e));
          assert.equal(e.reason, 'Unauthorized');
          assert.match(e.message, message);
          assert.ok(e.message.includes(registry.host), e.message);
          assert.ok(!e.message.includes('wrong') && !e.message.includes('s3cret'), 'secrets never appear in errors');
          return true;
        });
      } finally {
        await client.close();
      }
    }
  });

  test('a refused token is replaced once on 401: the request succeeds, or fails clearly without looping', async () => {
    const registry = await startRegistry({ kind: 'token', username: 'bob', password: 'tok3n' });
    registries.push(registry);
    const image = buildImage();
    await pushImage(registry, 'exp/app', image, ['v1']);
    const credentials = new StaticCredentials({ [registry.host]: { kind: 'basic', username: 'bob', password: 'tok3n' } });
    const client = new RegistryClient({ credentials, retry: { attempts: 1 } });
    try {
      const tokens = registry.tokenServer!;
      tokens.expireNext = 1;
      let before = tokens.requests.length;
      assert.equal((await client.headManifest(repo(registry, 'exp/app'), 'v1'))?.digest, image.digest);
      assert.equal(tokens.requests.length - before, 2, 'the refused token and its replacement');
      before = tokens.requests.length;
      assert.equal((await client.headManifest(repo(registry, 'exp/app'), 'v1'))?.digest, image.digest);
      assert.equal(tokens.requests.length - before, 0, 'a good token is reused from the cache');

      tokens.expireNext = 10;
      before = tokens.requests.length;
      await assert.rejects(client.headManifest(repo(registry, 'exp/other'), 'v1'), (e: unknown) => e instanceof RegistryError && e.reason === 'Unauthorized');
      assert.equal(tokens.requests.length - before, 2, 'one replacement token, then give up');
    } finally {
      await client.close();
    }
  });
});

describe('connections', () => {
  let registry: TestRegistry;
  let image: BuiltImage;
  before(async () => {
    registry = await startRegistry();
    image = buildImage();
    await pushImage(registry, 'conn/app', image, ['v1']);
  });
  after(() => registry.stop());

  test('HEADs reuse keep-alive connections: 300 reads open at most 8 connections', async () => {
    const proxy = await startFaultProxy(registry.url);
    const client = new RegistryClient();
    try {
      const r = repo({ ...registry, host: proxy.host }, 'conn/app');
      for (let round = 0; round < 30; round++) {
        const heads = await Promise.all(Array.from({ length: 8 }, () => client.headManifest(r, 'v1')));
        assert.ok(heads.every((h) => h?.digest === image.digest));
        assert.equal((await client.headBlob(r, image.blobs[0]!.digest)), image.blobs[0]!.size);
        assert.equal((await client.getManifest(r, image.digest)).digest, image.digest);
      }
      assert.equal(proxy.requests.length, 300);
      // undici's default closes the connection after every HEAD: 270 connections here.
      assert.ok(proxy.connections <= 8, `${proxy.connections} connections for ${proxy.requests.length} requests`);
    } finally {
      await client.close();
      await proxy.close();
    }
  });

  test('a server that sends a body after a HEAD answer: every read is still right, and that origin stops reusing HEAD connections', async () => {
    const proxy = await startFaultProxy(registry.url);
    // The stray bytes arrive after the client has sent its next request on the connection.
    proxy.addRule({ match: { method: 'HEAD' }, fault: { kind: 'headBody', body: '{"a body":"after a HEAD"}', delayMs: 30 } });
    proxy.addRule({ match: { method: 'GET' }, fault: { kind: 'delay', ms: 100 } });
    const client = new RegistryClient({ retry: { minDelayMs: 10, maxDelayMs: 50 }, connectionsPerOrigin: 1 });
    try {
      const r = repo({ ...registry, host: proxy.host }, 'conn/app');
      for (let round = 0; round < 10; round++) {
        assert.equal((await client.headManifest(r, 'v1'))?.digest, image.digest);
        assert.equal((await client.getManifest(r, 'v1')).digest, image.digest);
      }
      // Reusing the HEAD's connection would break the GET after every HEAD (ten retries).
      assert.equal(client.stats.retries, 1, 'the stray bytes broke one GET, which was retried; then HEADs no longer reused connections');
    } finally {
      await client.close();
      await proxy.close();
    }
  });
});
