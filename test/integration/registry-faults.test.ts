// The registry client behind a fault-injecting proxy in front of a real registry: 429 storms,
// 503s, resets, stalls and corrupted blobs. Each copy either completes with the right digests
// or fails with a clear reason, and nothing is ever stored under a wrong digest.
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import { defaultRateLimit, ImageCopier, RegistryClient, RegistryError, type Repository } from '../../src/registry/index.ts';
import { startFaultProxy, type FaultProxy } from '../support/fault-proxy.ts';
import { buildImage, pushImage, type BuiltImage } from '../support/images.ts';
import { startRegistry, type TestRegistry } from '../support/registry.ts';
import { runTool } from '../support/testbed.ts';

const craneDigest = async (ref: string) => (await runTool('crane', ['digest', '--insecure', ref])).trim();
const fastRetries = { attempts: 5, minDelayMs: 20, maxDelayMs: 200 };

describe('faults between the client and a registry', () => {
  let staging: TestRegistry;
  let prod: TestRegistry;
  let proxy: FaultProxy;
  let image: BuiltImage;
  let n = 0;
  before(async () => {
    [staging, prod] = await Promise.all([startRegistry(), startRegistry()]);
    proxy = await startFaultProxy(staging.url);
    image = buildImage({ layers: [200_000, 50_000] });
    await pushImage(staging, 'app', image, ['v1']);
  });
  after(async () => { await proxy.close(); await Promise.all([staging.stop(), prod.stop()]); });
  beforeEach(() => { proxy.clearRules(); proxy.setQuota(undefined); proxy.requests.length = 0; n += 1; });

  const src = (): Repository => ({ host: proxy.host, name: 'app' });
  const dst = (): Repository => ({ host: prod.host, name: `copy${n}/app` });

  test('a storm of 429s with Retry-After slows the host down and the copy completes', async () => {
    proxy.addRule({ match: { path: /\/blobs\// }, times: 4, fault: { kind: 'status', status: 429, headers: { 'retry-after': '1' } } });
    const client = new RegistryClient({ retry: fastRetries });
    try {
      const started = performance.now();
      const result = await new ImageCopier(client).copy({ src: src(), dst: dst(), digest: image.digest, tags: ['v1'] });
      assert.equal(result.blobsCopied, 3);
      assert.ok(performance.now() - started >= 900, 'the Retry-After pause was honoured');
      const limiter = client.transport.limiters.stats.find((s) => s.host === proxy.host)!;
      assert.ok(limiter.throttled >= 1 && limiter.rate < defaultRateLimit.rate, `limiter slowed down: ${JSON.stringify(limiter)}`);
      assert.ok(client.stats.retries >= 4, `retries ${client.stats.retries}`);
      assert.equal(await craneDigest(`${prod.host}/copy${n}/app:v1`), image.digest);
    } finally {
      await client.close();
    }
  });

  test('503s and connection resets are retried; a 404 is not', async () => {
    proxy.addRule({ match: { method: 'GET', path: /\/manifests\// }, times: 2, fault: { kind: 'status', status: 503 } });
    proxy.addRule({ match: { method: 'GET', path: /\/blobs\// }, times: 2, fault: { kind: 'reset' } });
    const client = new RegistryClient({ retry: fastRetries });
    try {
      await new ImageCopier(client).copy({ src: src(), dst: dst(), digest: image.digest });
      assert.equal(await craneDigest(`${prod.host}/copy${n}/app@${image.digest}`), image.digest);
      const gets = client.stats.count({ method: 'GET', host: proxy.host });
      proxy.requests.length = 0;
      await assert.rejects(client.getManifest(src(), `sha256:${'1'.repeat(64)}`), (e: unknown) => e instanceof RegistryError && e.reason === 'NotFound');
      assert.equal(proxy.requests.length, 1, 'a 404 is answered once, not retried');
      assert.ok(gets >= 5);
    } finally {
      await client.close();
    }
  });

  test('a stalled body trips the idle timeout and the retried transfer succeeds', async () => {
    const largest = image.blobs.reduce((a, b) => (a.size > b.size ? a : b));
    proxy.addRule({ match: { method: 'GET', path: new RegExp(`/blobs/${largest.digest}`) }, times: 1, fault: { kind: 'stall', ms: 5000, afterBytes: 1000 } });
    const client = new RegistryClient({ retry: fastRetries, timeouts: { bodyIdleMs: 500 } });
    try {
      const started = performance.now();
      await new ImageCopier(client).copy({ src: src(), dst: dst(), digest: image.digest, tags: ['v1'] });
      const elapsed = performance.now() - started;
      assert.ok(elapsed >= 450 && elapsed < 4500, `the idle timeout fired before the stall ended (${elapsed.toFixed(0)} ms)`);
      assert.equal(proxy.requests.filter((r) => r.method === 'GET' && r.path.includes(largest.digest)).length, 2, 'the transfer was started again');
      assert.ok(proxy.requests.some((r) => r.fault === 'stall'));
      assert.equal(await craneDigest(`${prod.host}/copy${n}/app:v1`), image.digest);
    } finally {
      await client.close();
    }
  });

  test('a stalled response with no headers trips the headers timeout', async () => {
    proxy.addRule({ match: { method: 'HEAD' }, times: 1, fault: { kind: 'stallHeaders', ms: 5000 } });
    const client = new RegistryClient({ retry: fastRetries, timeouts: { headersMs: 500 } });
    try {
      assert.equal((await client.headManifest(src(), 'v1'))?.digest, image.digest);
      assert.equal(client.stats.retries, 1);
    } finally {
      await client.close();
    }
  });

  test('a corrupted blob is refused: digest mismatch, nothing written under its digest', async () => {
    proxy.addRule({ match: { method: 'GET', path: /\/blobs\/sha256:/ }, fault: { kind: 'corrupt' } });
    const client = new RegistryClient({ retry: fastRetries });
    try {
      await assert.rejects(new ImageCopier(client).copy({ src: src(), dst: dst(), digest: image.digest, tags: ['v1'] }), (e: unknown) => {
        assert.ok(e instanceof RegistryError, String(e));
        assert.equal(e.reason, 'DigestMismatch');
        assert.match(e.message, /is corrupt .*nothing was written/);
        return true;
      });
      const check = new RegistryClient();
      for (const blob of image.blobs) assert.equal(await check.headBlob(dst(), blob.digest), undefined, `${blob.digest} must not exist`);
      assert.equal(await check.headManifest(dst(), image.digest), undefined);
      await check.close();
    } finally {
      await client.close();
    }
  });

  test('a persistent 5xx gives up after the configured attempts with the registry named', async () => {
    proxy.addRule({ fault: { kind: 'status', status: 502 } });
    const client = new RegistryClient({ retry: { attempts: 3, minDelayMs: 10, maxDelayMs: 20 } });
    try {
      await assert.rejects(client.listTags(src()), (e: unknown) => e instanceof RegistryError && e.reason === 'ServerError' && e.message.includes(proxy.host) && /502/.test(e.message));
      assert.equal(proxy.requests.length, 3);
    } finally {
      await client.close();
    }
  });

  test('a failed upload session is not replayed: the blob goes again in a new session', async () => {
    const dstProxy = await startFaultProxy(prod.url);
    const client = new RegistryClient({ retry: fastRetries });
    try {
      const largest = image.blobs.reduce((a, b) => (a.size > b.size ? a : b));
      dstProxy.addRule({ match: { method: 'PUT', path: new RegExp(`/blobs/uploads/.*digest=${largest.digest.replace(':', '(:|%3A)')}`) }, times: 1, fault: { kind: 'status', status: 503 } });
      const dst: Repository = { host: dstProxy.host, name: `session${n}/app` };
      await new ImageCopier(client).copy({ src: { host: staging.host, name: 'app' }, dst, digest: image.digest, tags: ['v1'] });
      const puts = dstProxy.requests.filter((r) => r.method === 'PUT' && r.path.includes('/blobs/uploads/') && r.path.includes(largest.digest.slice(7)));
      assert.equal(puts.length, 2, 'the closing PUT went once per session');
      assert.equal(puts[0]!.status, 503);
      assert.equal(dstProxy.requests.filter((r) => r.method === 'POST').length, image.blobs.length + 1, 'one extra session for the failed blob');
      assert.equal(await craneDigest(`${prod.host}/session${n}/app:v1`), image.digest);
    } finally {
      await client.close();
      await dstProxy.close();
    }
  });
});
