// The registry client behind a fault-injecting proxy in front of a real registry: 429 storms,
// 503s, resets, stalls and corrupted blobs. Each copy either completes with the right digests
// or fails with a clear reason, and nothing is ever stored under a wrong digest.
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import { defaultRateLimit, ImageCopier, RegistryClient, RegistryError, type Repository } from '../../src/registry/index.ts';
import type { WaitEvent } from '../../src/registry/transport.ts';
import { startFaultProxy, type FaultProxy } from '../support/fault-proxy.ts';
import { buildImage, pushImage, type BuiltImage } from '../support/images.ts';
import { startRegistry, type TestRegistry } from '../support/registry.ts';
import { runTool } from '../support/testbed.ts';

const craneDigest = async (ref: string) => (await runTool('crane', ['digest', '--insecure', ref])).trim();
const fastRetries = { attempts: 5, minDelayMs: 20, maxDelayMs: 200 };
/** Only a time budget bounds the retries, as by default; short pauses to keep the test quick. */
const budgeted = (budgetMs: number) => ({ budgetMs, minDelayMs: 20, maxDelayMs: 300 });

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

  test('429s with Retry-After pause the repository as asked and the copy completes', async () => {
    proxy.addRule({ match: { path: /\/blobs\// }, times: 4, fault: { kind: 'status', status: 429, headers: { 'retry-after': '1' } } });
    const waits: WaitEvent[] = [];
    const client = new RegistryClient({ retry: fastRetries, onWait: (event) => waits.push(event) });
    try {
      const result = await new ImageCopier(client).copy({ src: src(), dst: dst(), digest: image.digest, tags: ['v1'] });
      assert.equal(result.blobsCopied, 3);
      // That a pause holds requests back until it ends is the limiter's unit test (mock timers).
      assert.ok(waits.some((w) => w.host === proxy.host && w.askedByRegistry && w.seconds === 1), `the Retry-After second became a pause: ${JSON.stringify(waits)}`);
      const limiter = client.transport.limiters.stats.find((s) => s.host === proxy.host)!;
      // Four requests are a trickle, no measure of a quota: the rate stays, the pauses do the work.
      assert.ok(limiter.throttled === 4 && limiter.rate === defaultRateLimit.rate, `limiter: ${JSON.stringify(limiter)}`);
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

  test('a stalled body trips the idle timeout and the retried transfer succeeds', { timeout: 120_000 }, async () => {
    const largest = image.blobs.reduce((a, b) => (a.size > b.size ? a : b));
    // A stall without end: the copy can only complete because the idle timeout cut it.
    proxy.addRule({ match: { method: 'GET', path: new RegExp(`/blobs/${largest.digest}`) }, times: 1, fault: { kind: 'stall', ms: Infinity, afterBytes: 1000 } });
    const client = new RegistryClient({ retry: fastRetries, timeouts: { bodyIdleMs: 3000 } });
    try {
      await new ImageCopier(client).copy({ src: src(), dst: dst(), digest: image.digest, tags: ['v1'] });
      assert.equal(proxy.requests.filter((r) => r.method === 'GET' && r.path.includes(largest.digest)).length, 2, 'the transfer was started again');
      assert.ok(proxy.requests.some((r) => r.fault === 'stall'));
      assert.equal(await craneDigest(`${prod.host}/copy${n}/app:v1`), image.digest);
    } finally {
      await client.close();
    }
  });

  test('a stalled response with no headers trips the headers timeout', { timeout: 120_000 }, async () => {
    // Without end: only the timeout gets the request past it. Long enough that no answer on a
    // busy machine trips it by accident.
    proxy.addRule({ match: { method: 'HEAD' }, times: 1, fault: { kind: 'stallHeaders', ms: Infinity } });
    const client = new RegistryClient({ retry: fastRetries, timeouts: { headersMs: 3000 } });
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

  test('an upload from memory answered 429 starts over in a new session by itself: a signature write needs no retry of its own', async () => {
    const dstProxy = await startFaultProxy(prod.url);
    const client = new RegistryClient({ retry: fastRetries });
    try {
      const data = Buffer.from(`signature ${n}`);
      const digest = `sha256:${(await import('node:crypto')).createHash('sha256').update(data).digest('hex')}`;
      dstProxy.addRule({ match: { method: 'PUT', path: /\/blobs\/uploads\// }, times: 2, fault: { kind: 'status', status: 429 } });
      const repo: Repository = { host: dstProxy.host, name: `retry${n}/app` };
      await client.uploadBlob(repo, digest, data.length, data);
      assert.equal(dstProxy.requests.filter((r) => r.method === 'POST').length, 3, 'three sessions: two answered 429, the third landed');
      assert.equal(await client.headBlob({ host: prod.host, name: `retry${n}/app` }, digest), data.length);
    } finally {
      await client.close();
      await dstProxy.close();
    }
  });

  test('a storm of 40 429s without Retry-After is ridden out: only the time budget bounds the retries', { timeout: 120_000 }, async () => {
    proxy.addRule({ times: 40, fault: { kind: 'status', status: 429 } });
    const client = new RegistryClient({ retry: budgeted(60_000) });
    try {
      await new ImageCopier(client).copy({ src: src(), dst: dst(), digest: image.digest, tags: ['v1'] });
      assert.equal(proxy.requests.filter((r) => r.status === 429).length, 40, 'every 429 of the storm was met');
      assert.equal(await craneDigest(`${prod.host}/copy${n}/app:v1`), image.digest);
    } finally {
      await client.close();
    }
  });

  test('a burst of 30 5xx answers is ridden out, backing off per host', { timeout: 120_000 }, async () => {
    proxy.addRule({ times: 30, fault: { kind: 'status', status: 503 } });
    const waits: WaitEvent[] = [];
    const client = new RegistryClient({ retry: budgeted(60_000), onWait: (e) => waits.push(e) });
    try {
      await new ImageCopier(client).copy({ src: src(), dst: dst(), digest: image.digest, tags: ['v1'] });
      assert.equal(proxy.requests.filter((r) => r.status === 503).length, 30);
      assert.equal(await craneDigest(`${prod.host}/copy${n}/app:v1`), image.digest);
    } finally {
      await client.close();
    }
  });

  test('one repository throttled with Retry-After: 30 pauses that repository, not the host; its copy meets its deadline', { timeout: 120_000 }, async () => {
    const other = buildImage({ layers: [30_000] });
    await pushImage(staging, 'fast/app', other, ['v1']);
    proxy.addRule({ match: { method: 'GET', path: /^\/v2\/app\/blobs\// }, fault: { kind: 'status', status: 429, headers: { 'retry-after': '30' } } });
    const waits: WaitEvent[] = [];
    let paused!: () => void;
    const repositoryPaused = new Promise<void>((resolve) => { paused = resolve; });
    const client = new RegistryClient({ retry: budgeted(10 * 60_000), onWait: (e) => { waits.push(e); if (e.repository === 'app') paused(); } });
    try {
      // The deadline only has to outlast the other repository's copy on a busy machine, and end before the 30 s pause.
      const slow = new ImageCopier(client, { copyTimeoutMs: 15_000 }).copy({ src: src(), dst: dst(), digest: image.digest, tags: ['v1'] });
      let slowSettled = false;
      const slowOutcome = slow.then(() => 'done', (e: unknown) => e).finally(() => { slowSettled = true; });
      // Wait until the slow repository is paused, then copy another repository of the same host.
      await repositoryPaused;
      const fast = await new ImageCopier(client).copy({ src: { host: proxy.host, name: 'fast/app' }, dst: { host: prod.host, name: `fast${n}/app` }, digest: other.digest, tags: ['v1'] });
      assert.equal(slowSettled, false, 'the other repository was copied while the throttled one waits out its Retry-After');
      assert.deepEqual(fast.tagsWritten, ['v1']);
      assert.equal(await craneDigest(`${prod.host}/fast${n}/app:v1`), other.digest);
      const outcome = await slowOutcome;
      assert.ok(outcome instanceof RegistryError && outcome.reason === 'DeadlineExceeded', String(outcome));
      assert.match(outcome.message, /was not done within 15s, the copy deadline/);
      const wait = waits.find((w) => w.repository === 'app')!;
      assert.deepEqual({ host: wait.host, seconds: wait.seconds, reason: wait.reason, asked: wait.askedByRegistry }, { host: proxy.host, seconds: 30, reason: 'RateLimited', asked: true });
      assert.ok(!waits.some((w) => w.repository === undefined), 'the host as a whole was never paused');
    } finally {
      await client.close();
    }
  });

  test('a tag list whose next page is itself is refused after two pages, not followed for ever', async () => {
    proxy.addRule({ match: { path: /\/tags\/list/ }, fault: { kind: 'headers', edit: (headers, req) => ({ ...headers, link: `<${req.path.split('?')[0]}?n=100&last=v1>; rel="next"` }) } });
    const client = new RegistryClient({ retry: fastRetries });
    try {
      await assert.rejects(client.listTags(src()), (e: unknown) => e instanceof RegistryError && e.reason === 'PaginationLoop' && /links back to a page already read/.test(e.message));
      assert.equal(proxy.requests.length, 2);
      proxy.clearRules();
      proxy.addRule({ match: { path: /\/tags\/list/ }, fault: { kind: 'headers', edit: (headers) => ({ ...headers, link: '<http://127.0.0.9:1/v2/app/tags/list?last=x>; rel="next"' }) } });
      await assert.rejects(client.listTags(src()), (e: unknown) => e instanceof RegistryError && e.reason === 'InvalidResponse' && /not another page of the same list/.test(e.message));
    } finally {
      await client.close();
    }
  });

  test('a host that only fails is given up on after the retry budget, then at the first failure', async () => {
    proxy.addRule({ fault: { kind: 'status', status: 503 } });
    const client = new RegistryClient({ retry: budgeted(1500) });
    try {
      await assert.rejects(client.headManifest(src(), 'v1'), (e: unknown) => e instanceof RegistryError && e.reason === 'ServerError' && /retry budget of 2s/.test(e.message));
      const before = proxy.requests.length;
      await assert.rejects(client.headManifest(src(), 'v1'), (e: unknown) => e instanceof RegistryError && /has failed for \d+s/.test(e.message));
      assert.equal(proxy.requests.length - before, 1, 'a host failing for longer than the budget gets one attempt');
      proxy.clearRules();
      assert.equal((await client.headManifest(src(), 'v1'))?.digest, image.digest, 'and is used again as soon as it answers');
    } finally {
      await client.close();
    }
  });

  test('a registry name that does not resolve fails after three attempts, not after the whole budget', async () => {
    const client = new RegistryClient({ retry: budgeted(60_000), insecureHosts: ['no-such-registry.invalid:5000'] });
    try {
      await assert.rejects(client.listTags({ host: 'no-such-registry.invalid:5000', name: 'app' }), (e: unknown) => e instanceof RegistryError && e.reason === 'ConnectionFailed' && /ENOTFOUND/.test(e.message));
      assert.equal(client.stats.retries, 2);
    } finally {
      await client.close();
    }
  });
});
