// The fault proxy against a real registry: it must forward faithfully when no rule applies, and
// each fault must reach a plain fetch client the way the registry client's tests rely on.
import assert from 'node:assert/strict';
import { createServer, get as get2 } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, beforeEach, describe, test } from 'node:test';
import { startFaultProxy, type FaultProxy } from '../support/fault-proxy.ts';
import { buildImage, pushImage, sha256, type BuiltImage } from '../support/images.ts';
import { startRegistry, type TestRegistry } from '../support/registry.ts';

describe('fault proxy', () => {
  let registry: TestRegistry;
  let proxy: FaultProxy;
  /** The proxy's clock (its quota's); moved by the test, never waited for. */
  let clockMs = Date.now();
  let image: BuiltImage;
  const repo = 'faults/app';
  const manifestUrl = () => `${proxy.url}/v2/${repo}/manifests/v1`;
  const accept = { accept: 'application/vnd.oci.image.manifest.v1+json' };
  const layer = () => image.blobs[1]!;
  const layerUrl = () => `${proxy.url}/v2/${repo}/blobs/${layer().digest}`;
  const get = async (url: string, init?: RequestInit) => {
    const res = await fetch(url, { headers: accept, ...init });
    return { res, body: Buffer.from(await res.arrayBuffer()) };
  };

  before(async () => {
    registry = await startRegistry();
    proxy = await startFaultProxy(registry.url, { now: () => clockMs });
    image = buildImage({ layers: [256 * 1024] });
    await pushImage({ ...registry, host: proxy.host, url: proxy.url }, repo, image, ['v1']);
  });
  after(async () => {
    await proxy?.close();
    await registry?.stop();
  });
  beforeEach(() => {
    proxy.clearRules();
    proxy.setQuota(undefined);
    proxy.setLatency(0);
  });

  test('forwards reads: the manifest through the proxy has the pushed digest', async () => {
    const { res, body } = await get(manifestUrl());
    assert.equal(res.status, 200);
    assert.equal(sha256(body), image.digest);
    assert.equal(res.headers.get('docker-content-digest'), image.digest);
    const blob = await get(layerUrl());
    assert.ok(blob.body.equals(layer().data));
  });

  test('rewrites absolute upload Locations to the proxy, so the push never went around it', async () => {
    const posts = proxy.requests.filter((r) => r.method === 'POST' && /\/blobs\/uploads\/$/.test(r.path));
    const puts = proxy.requests.filter((r) => r.method === 'PUT' && /\/blobs\/uploads\/[^?]+\?/.test(r.path));
    assert.equal(posts.length, image.blobs.length);
    assert.equal(puts.length, posts.length);
    assert.ok(puts.every((r) => r.status === 201));
    const start = await fetch(`${proxy.url}/v2/${repo}/blobs/uploads/`, { method: 'POST' });
    await start.arrayBuffer();
    assert.equal(start.status, 202);
    assert.ok(start.headers.get('location')?.startsWith(`${proxy.url}/v2/${repo}/blobs/uploads/`), start.headers.get('location') ?? 'no location');
  });

  test('leaves relative and foreign Locations alone', async () => {
    const stub = createServer((req, res) => {
      res.writeHead(302, { location: req.url === '/relative' ? '/v2/elsewhere' : 'http://example.invalid/blob' }).end();
    });
    await new Promise<void>((resolve) => stub.listen(0, '127.0.0.1', resolve));
    const stubProxy = await startFaultProxy(`http://127.0.0.1:${(stub.address() as AddressInfo).port}`);
    try {
      const relative = await fetch(`${stubProxy.url}/relative`, { redirect: 'manual' });
      assert.equal(relative.headers.get('location'), '/v2/elsewhere');
      const foreign = await fetch(`${stubProxy.url}/foreign`, { redirect: 'manual' });
      assert.equal(foreign.headers.get('location'), 'http://example.invalid/blob');
    } finally {
      await stubProxy.close();
      await new Promise((resolve) => stub.close(resolve));
    }
  });

  test('a status rule answers 429 with Retry-After, then is used up', async () => {
    proxy.addRule({ match: { method: 'GET', path: /\/manifests\// }, times: 1, fault: { kind: 'status', status: 429, headers: { 'retry-after': '2' } } });
    const first = await get(manifestUrl());
    assert.equal(first.res.status, 429);
    assert.equal(first.res.headers.get('retry-after'), '2');
    assert.equal(JSON.parse(first.body.toString()).errors[0].code, 'TOOMANYREQUESTS');
    const second = await get(manifestUrl());
    assert.equal(second.res.status, 200);
    assert.deepEqual(proxy.requests.slice(-2).map((r) => [r.status, r.fault]), [[429, 'status'], [200, undefined]]);
  });

  test('a rule skips `after` matching requests and ignores requests it does not match', async () => {
    proxy.addRule({ match: { path: /\/manifests\// }, after: 1, times: 1, fault: { kind: 'status', status: 503 } });
    assert.equal((await get(layerUrl())).res.status, 200);
    assert.equal((await get(manifestUrl())).res.status, 200);
    assert.equal((await get(manifestUrl())).res.status, 503);
    assert.equal((await get(manifestUrl())).res.status, 200);
  });

  test('a reset rule gives fetch ECONNRESET (a TCP reset, not a clean close); the next request goes through', async () => {
    proxy.addRule({ times: 1, fault: { kind: 'reset' } });
    await assert.rejects(fetch(manifestUrl(), { headers: accept }), (err: Error) => {
      assert.equal(err.name, 'TypeError');
      assert.equal((err.cause as { code?: string } | undefined)?.code, 'ECONNRESET');
      return true;
    });
    const { method, path, status, fault } = proxy.requests.at(-1)!;
    assert.deepEqual({ method, path, status, fault }, { method: 'GET', path: `/v2/${repo}/manifests/v1`, status: 0, fault: 'reset' });
    assert.equal((await get(manifestUrl())).res.status, 200);
  });

  test('a corrupt rule changes body bytes but not the length', async () => {
    proxy.addRule({ match: { path: /\/blobs\/sha256:/ }, times: 1, fault: { kind: 'corrupt' } });
    const corrupted = await get(layerUrl());
    assert.equal(corrupted.res.status, 200);
    assert.equal(corrupted.body.length, layer().size);
    assert.notEqual(sha256(corrupted.body), layer().digest);
    assert.equal(sha256((await get(layerUrl())).body), layer().digest);
  });

  test('a stall sends headers and then no body, so a client timeout fires while reading', async () => {
    proxy.addRule({ times: 1, fault: { kind: 'stall', ms: Infinity, afterBytes: 1000 } });
    const res = await fetch(layerUrl(), { signal: AbortSignal.timeout(3000) });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-length'), String(layer().size));
    let received = 0;
    await assert.rejects(async () => {
      for await (const chunk of res.body!) received += chunk.length;
    }, { name: 'TimeoutError' });
    assert.equal(received, 1000, 'nothing after the first 1000 bytes: the stall has no end but the client\'s');
  });

  test('a finite stall resumes and delivers the whole body', async () => {
    proxy.addRule({ times: 1, fault: { kind: 'stall', ms: 300 } });
    const { body } = await get(layerUrl());
    assert.equal(proxy.requests.at(-1)?.fault, 'stall');
    assert.equal(sha256(body), layer().digest);
  });

  test('a stall before headers makes fetch itself time out', async () => {
    proxy.addRule({ times: 1, fault: { kind: 'stallHeaders', ms: 10_000 } });
    await assert.rejects(fetch(manifestUrl(), { headers: accept, signal: AbortSignal.timeout(300) }), { name: 'TimeoutError' });
    assert.equal(proxy.requests.at(-1)?.status, 0);
  });

  test('a quota answers 429 with Retry-After past its limit, and admits again after the window', async () => {
    // The proxy's clock stands still unless the test moves it.
    proxy.setQuota({ limit: 3, windowMs: 1500 });
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) statuses.push((await get(manifestUrl())).res.status);
    assert.deepEqual(statuses, [200, 200, 200, 429]);
    clockMs += 600;
    const limited = await get(manifestUrl());
    assert.equal(limited.res.status, 429);
    assert.equal(limited.res.headers.get('retry-after'), '1', '900 ms left of the window, in whole seconds');
    clockMs += 901;
    assert.equal((await get(manifestUrl())).res.status, 200);
    proxy.setQuota(undefined);
  });

  test('latency delays every request', async () => {
    proxy.setLatency(250);
    const started = Date.now();
    await get(manifestUrl());
    await get(manifestUrl());
    assert.ok(Date.now() - started >= 500, `${Date.now() - started} ms`);
  });

  test('close() ends pending stalls at once and leaves no timers behind', async () => {
    const second = await startFaultProxy(registry.url);
    const timersBefore = process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    second.addRule({ match: { path: /\/manifests\// }, fault: { kind: 'stallHeaders', ms: 60_000 } });
    second.addRule({ match: { path: /\/blobs\// }, fault: { kind: 'stall', ms: 60_000 } });
    const headerStall = fetch(`${second.url}/v2/${repo}/manifests/v1`, { headers: accept });
    const bodyStall = await fetch(`${second.url}/v2/${repo}/blobs/${layer().digest}`);
    assert.equal(bodyStall.status, 200);
    const bodyRead = bodyStall.arrayBuffer();
    await second.close();
    await assert.rejects(headerStall, TypeError);
    await assert.rejects(bodyRead, TypeError);
    const timersAfter = process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    assert.ok(timersAfter <= timersBefore, `timers before ${timersBefore}, after ${timersAfter}`);
  });

  test('a body rule streams a huge answer as it is read and counts what was sent', async () => {
    proxy.requests.length = 0;
    proxy.addRule({ match: { path: /\/tags\/list/ }, times: 1, fault: { kind: 'body', status: 200, bytes: 1024 * 1024 * 1024, prefix: '{"tags":["', fill: 'a', chunked: true } });
    const res = await fetch(`${proxy.url}/v2/${repo}/tags/list`);
    const reader = res.body!.getReader();
    let read = 0;
    while (read < 1024 * 1024) read += (await reader.read()).value?.length ?? 0;
    assert.equal(res.headers.get('content-length'), null, 'chunked: no length declared');
    await reader.cancel();
    await proxy.idle();
    const sent = proxy.requests.at(-1)!.bytesSent;
    assert.ok(sent >= read && sent < 64 * 1024 * 1024, `${sent} bytes sent of 1 GiB`);
  });

  test('headers and respond rules shape answers; requests keep their headers; connections are counted', async () => {
    proxy.resetConnections();
    let fetchConnectionsBefore = 0;
    proxy.addRule({ match: { path: /\/manifests\// }, times: 1, fault: { kind: 'headers', edit: (headers) => ({ ...headers, 'x-edited': 'yes' }) } });
    proxy.addRule({ match: { path: /\/tags\/list/ }, times: 1, fault: { kind: 'respond', answer: ({ path }) => ({ status: 200, headers: { link: `<${path}>; rel="next"` }, body: '{}' }) } });
    const edited = await get(manifestUrl(), { headers: { ...accept, authorization: 'Bearer x' } });
    assert.equal(edited.res.headers.get('x-edited'), 'yes');
    assert.equal(sha256(edited.body), image.digest, 'the body is the registry\'s');
    assert.equal(proxy.requests.at(-1)!.headers.authorization, 'Bearer x');
    const answered = await fetch(`${proxy.url}/v2/${repo}/tags/list`);
    assert.equal(answered.headers.get('link'), `</v2/${repo}/tags/list>; rel="next"`);
    assert.equal(await answered.text(), '{}');
    fetchConnectionsBefore = proxy.connections;
    // Two requests on fresh connections of their own.
    for (let i = 0; i < 2; i++) await new Promise((resolve, reject) => get2(`${proxy.url}/v2/`, { agent: false }, (res) => res.resume().on('end', resolve)).on('error', reject));
    assert.equal(proxy.connections, fetchConnectionsBefore + 2);
  });
});
