// A hostile registry, played by the fault proxy in front of a real docker-registry: what it sends
// is untrusted input. Descriptors that are not digests never become URLs (nothing unreviewed is
// written to production), credentials go only where they belong, and no body it sends is read
// without a limit.
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import { ImageCopier, RegistryClient, RegistryError, type Repository } from '../../src/registry/index.ts';
import { startFaultProxy, type FaultProxy } from '../support/fault-proxy.ts';
import { buildImage, MediaType, pushImage, sha256, type BuiltImage } from '../support/images.ts';
import { startRegistry, type TestRegistry } from '../support/registry.ts';

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
