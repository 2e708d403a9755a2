// The standing fault suite (issue 12): `hoist promote --confirm`, as a user runs it, promotes a
// realistic set (an OCI index, an image with a large streamed blob, a Docker manifest list, a
// small image) from staging to two production registries, the second one with bearer-token
// auth, through each fault a hostile or struggling registry can throw at it. After every run an
// independent check (crane, reading the registries directly, not through the fault proxies)
// verifies that every image the fault did not target arrived intact and that nothing unreviewed
// was written. Each run's bound on time is its test timeout.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { runHoist, type HoistRun } from '../support/cli.ts';
import { startFaultProxy, type FaultProxy, type FaultRule } from '../support/fault-proxy.ts';
import { buildImage, buildIndex, MediaType, pushImage, sha256, type BuiltImage } from '../support/images.ts';
import { startRegistry, type TestRegistry } from '../support/registry.ts';
import { tool } from '../support/testbed.ts';

const execFileAsync = promisify(execFile);

interface SuiteImage { name: string; image: BuiltImage; tags: string[] }
interface Report { outcome: string; summary: Record<string, number>; edges: { destination: string; state: string; reason?: string; message?: string }[] }

describe('fault suite: hoist promote through every fault', () => {
  let staging: TestRegistry;
  let open: TestRegistry;
  let secured: TestRegistry;
  let src: FaultProxy;
  let d1: FaultProxy;
  let d2: FaultProxy;
  let dir: string;
  let registryConfig: string;
  const password = 'suite-pa55word';
  const images: SuiteImage[] = [];

  before(async () => {
    [staging, open, secured] = await Promise.all([startRegistry(), startRegistry(), startRegistry({ kind: 'token', username: 'bob', password })]);
    [src, d1, d2] = await Promise.all([startFaultProxy(staging.url), startFaultProxy(open.url), startFaultProxy(secured.url)]);
    dir = mkdtempSync(join(tmpdir(), 'hoist-fault-suite-'));
    const auth = (host: string) => ({ [host]: { auth: Buffer.from(`bob:${password}`).toString('base64') } });
    registryConfig = join(dir, 'registry-config.json');
    writeFileSync(registryConfig, JSON.stringify({ auths: auth(d2.host) }));
    images.push(
      { name: 'index', image: buildIndex({ format: 'oci' }), tags: ['v1', 'stable'] },
      { name: 'large', image: buildImage({ layers: [3 * 1024 * 1024, 4000] }), tags: ['v2'] },
      { name: 'list', image: buildIndex({ format: 'docker', platforms: [{ os: 'linux', architecture: 'amd64' }, { os: 'linux', architecture: 'arm64' }] }), tags: ['v3'] },
      { name: 'small', image: buildImage({ layers: [300] }), tags: ['v4'] },
    );
    for (const { name, image, tags } of images) await pushImage(staging, `suite/${name}`, image, tags);
  });
  after(async () => {
    await Promise.all([src, d1, d2].map((p) => p?.close()));
    await Promise.all([staging, open, secured].map((r) => r?.stop()));
    rmSync(dir, { recursive: true, force: true });
  });

  const destinations = () => [{ proxy: d1, backend: open }, { proxy: d2, backend: secured }];

  /** A kpromo manifest promoting the set (and `extra` images) into `<destination>/<run>/<image>`. */
  function manifest(run: string, extra: SuiteImage[] = []): string {
    const lines = ['registries:', `- name: ${src.host}/suite`, '  src: true', `- name: ${d1.host}/${run}`, `- name: ${d2.host}/${run}`, 'images:'];
    for (const { name, image, tags } of [...images, ...extra]) lines.push(`- name: ${name}`, '  dmap:', `    "${image.digest}": [${tags.map((t) => `"${t}"`).join(', ')}]`);
    const file = join(dir, `${run}.yaml`);
    writeFileSync(file, `${lines.join('\n')}\n`);
    return file;
  }

  async function promote(run: string, rules: { proxy: FaultProxy; rule: FaultRule }[], flags: string[] = [], extra: SuiteImage[] = []): Promise<{ run: HoistRun; report: Report }> {
    for (const p of [src, d1, d2]) { p.clearRules(); p.requests.length = 0; p.resetConnections(); }
    for (const { proxy, rule } of rules) proxy.addRule(rule);
    try {
      const result = await runHoist(['promote', '--confirm', '-f', manifest(run, extra), '--registry-config', registryConfig, '-o', 'json', ...flags]);
      let report: Report;
      try {
        report = JSON.parse(result.stdout) as Report;
      } catch {
        throw new Error(`hoist exited ${result.code} without a report:\n${result.stderr.slice(-3000)}`);
      }
      return { run: result, report };
    } finally {
      for (const p of [src, d1, d2]) p.clearRules();
    }
  }

  const crane = async (args: string[]) => (await execFileAsync(tool('crane'), [...args, '--insecure'])).stdout.trim();
  // crane refuses a token realm on a loopback address (go-containerregistry's realm check), so
  // the token-auth registry is read with skopeo, and its catalog with a token of its own.
  const skopeo = async (args: string[]) => (await execFileAsync(tool('skopeo'), [...args, '--tls-verify=false', '--creds', `bob:${password}`], { maxBuffer: 64 * 1024 * 1024 })).stdout;
  const reader = (which: 'd1' | 'd2') => which === 'd1'
    ? {
      digest: (ref: string) => crane(['digest', ref]),
      tags: async (repository: string) => (await crane(['ls', repository]).catch(() => '')).split('\n').filter(Boolean),
      catalog: async () => (await crane(['catalog', open.host])).split('\n').filter(Boolean),
    }
    : {
      digest: async (ref: string) => sha256(Buffer.from(await skopeo(['inspect', '--raw', `docker://${ref}`]))),
      tags: async (repository: string) => ((JSON.parse(await skopeo(['list-tags', `docker://${repository}`]).catch(() => '{"Tags":[]}')) as { Tags: string[] }).Tags),
      catalog: async () => {
        const ts = secured.tokenServer!;
        const token = (await (await fetch(`${ts.realm}?service=${ts.service}&scope=registry:catalog:*`, { headers: { authorization: `Basic ${Buffer.from(`bob:${password}`).toString('base64')}` } })).json() as { token: string }).token;
        const res = await fetch(`${secured.url}/v2/_catalog?n=1000`, { headers: { authorization: `Bearer ${token}` } });
        return ((await res.json()) as { repositories: string[] }).repositories;
      },
    };

  /**
   * The independent check: on each destination registry (read directly), every image of the set
   * not in `failed` is there under each of its tags with its digest, every child of an index
   * too; and whatever the run wrote is something the manifest names, nowhere else.
   */
  async function verify(run: string, failed: { destination: 'd1' | 'd2' | 'both'; images: string[] }[] = [], extra: SuiteImage[] = []): Promise<void> {
    for (const [k, { backend }] of destinations().entries()) {
      const which = k === 0 ? 'd1' : 'd2';
      const read = reader(which);
      const skipped = new Set(failed.filter((f) => f.destination === which || f.destination === 'both').flatMap((f) => f.images));
      for (const { name, image, tags } of images) {
        if (skipped.has(name)) continue;
        for (const tag of tags) assert.equal(await read.digest(`${backend.host}/${run}/${name}:${tag}`), image.digest, `${which} ${run}/${name}:${tag}`);
        for (const child of image.children) assert.equal(await read.digest(`${backend.host}/${run}/${name}@${child.digest}`), child.digest);
        if (which === 'd1') await crane(['validate', '--remote', `${backend.host}/${run}/${name}:${tags[0]}`]);
      }
      const named = new Map([...images, ...extra].map((i) => [`${run}/${i.name}`, new Set(i.tags)]));
      for (const repository of (await read.catalog()).filter((r) => r.startsWith(`${run}/`))) {
        assert.ok(named.has(repository), `${which}: ${repository} was written, but the manifest names no such image`);
        for (const tag of await read.tags(`${backend.host}/${repository}`)) {
          assert.ok(named.get(repository)!.has(tag), `${which}: ${repository}:${tag} was written, but the manifest gives that image no such tag`);
        }
      }
    }
  }

  const edgeErrors = (report: Report, host: string) => report.edges.filter((e) => e.destination.startsWith(host) && e.state !== 'promoted');

  test('no fault: everything arrives, over a handful of connections per registry', { timeout: 120_000 }, async (t) => {
    const { run, report } = await promote('clean', []);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(report.summary.promoted, 8);
    await verify('clean');
    t.diagnostic(`connections: ${[src, d1, d2].map((p) => `${p.connections} for ${p.requests.length} requests`).join('; ')}`);
    // Before HEADs kept their connections, every HEAD opened one.
    for (const p of [src, d1, d2]) assert.ok(p.connections <= 8, `${p.host}: ${p.connections} connections for ${p.requests.length} requests`);
  });

  // Without Retry-After the same storms are ridden out too (test/integration/registry-faults.test.ts);
  // here the registry says how long, as Docker Hub, GHCR and Quay do, which keeps the run short.
  test('storms: 40 429s at staging, 30 5xx at a destination, resets mid-blob: everything arrives', { timeout: 120_000 }, async () => {
    const { run, report } = await promote('storm', [
      { proxy: src, rule: { times: 40, fault: { kind: 'status', status: 429, headers: { 'retry-after': '1' } } } },
      { proxy: src, rule: { match: { method: 'GET', path: /\/blobs\/sha256:/ }, times: 2, fault: { kind: 'reset' } } },
      { proxy: d1, rule: { times: 30, fault: { kind: 'status', status: 503 } } },
    ]);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(report.summary.promoted, 8, JSON.stringify(report.summary));
    assert.equal(src.requests.filter((r) => r.status === 429).length, 40);
    assert.equal(d1.requests.filter((r) => r.status === 503).length, 30);
    await verify('storm');
  });

  test('a hostile index and a throttled repository in staging: refused and bounded, nothing unreviewed written, the rest arrives', { timeout: 120_000 }, async () => {
    // Content that exists in staging but that no manifest names.
    const decoyTag = buildImage();
    const decoyPath = buildImage();
    await pushImage(staging, 'suite/hostile', decoyTag, ['v1.1.0']);
    await pushImage(staging, 'suite/other', decoyPath, ['latest']);
    const bytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [
      { mediaType: MediaType.ociManifest, digest: 'v1.1.0', size: decoyTag.bytes.length },
      { mediaType: MediaType.ociManifest, digest: '../../other/manifests/latest', size: decoyPath.bytes.length },
    ] }));
    const hostile: SuiteImage = { name: 'hostile', image: { digest: sha256(bytes), mediaType: MediaType.ociIndex, bytes, blobs: [], children: [] }, tags: ['v9'] };
    const { run, report } = await promote('hostile-src', [
      { proxy: src, rule: { match: { path: new RegExp(`/manifests/${hostile.image.digest}$`) }, fault: { kind: 'status', status: 200, body: bytes.toString(), headers: { 'content-type': MediaType.ociIndex, 'docker-content-digest': hostile.image.digest } } } },
      // One repository answers every blob read with 429 and Retry-After: 30.
      { proxy: src, rule: { match: { method: 'GET', path: /^\/v2\/suite\/large\/blobs\// }, fault: { kind: 'status', status: 429, headers: { 'retry-after': '30' } } } },
    ], ['--edge-timeout', '5s'], [hostile]);
    assert.equal(run.code, 1, run.stderr);
    const failed = report.edges.filter((e) => e.state !== 'promoted');
    assert.deepEqual(failed.map((e) => e.reason).sort(), ['DeadlineExceeded', 'DeadlineExceeded', 'InvalidDescriptor', 'InvalidDescriptor']);
    assert.ok(failed.filter((e) => e.reason === 'DeadlineExceeded').every((e) => e.destination.endsWith('/large')));
    assert.equal(report.summary.promoted, 6);
    await verify('hostile-src', [{ destination: 'both', images: ['large'] }], [hostile]);
    for (const [k, { backend }] of destinations().entries()) {
      const read = reader(k === 0 ? 'd1' : 'd2');
      await assert.rejects(read.digest(`${backend.host}/hostile-src/hostile:v1.1.0`), 'no tag from the hostile index');
      assert.ok(!(await read.catalog()).includes('hostile-src/other'), 'nothing in a repository no manifest names');
    }
  });

  test('a destination whose tag list links to itself costs only its own edges', { timeout: 60_000 }, async () => {
    const { run, report } = await promote('loop', [
      // Every page of every tag list says the next page is the same page again.
      { proxy: d1, rule: { match: { path: /\/tags\/list/ }, fault: { kind: 'respond', answer: ({ path }) => ({
        status: 200, body: '{"tags":["a"]}', headers: { 'content-type': 'application/json', link: `<${path.split('?')[0]}?n=50&last=a>; rel="next"` },
      }) } } },
    ]);
    assert.equal(run.code, 1);
    assert.ok(edgeErrors(report, d1.host).every((e) => e.reason === 'PaginationLoop') && edgeErrors(report, d1.host).length === 4);
    assert.ok(d1.requests.length <= 12, `${d1.requests.length} requests to the looping registry`);
    await verify('loop', [{ destination: 'd1', images: ['index', 'large', 'list', 'small'] }]);
  });

  test('a destination that only fails costs its own edges and about one retry budget', { timeout: 60_000 }, async () => {
    const { run, report } = await promote('down', [{ proxy: d1, rule: { fault: { kind: 'status', status: 503 } } }], ['--retry-budget', '4s']);
    assert.equal(run.code, 1);
    assert.equal(edgeErrors(report, d1.host).length, 4);
    assert.ok(edgeErrors(report, d1.host).every((e) => e.reason === 'ServerError' && /retry budget of 4s/.test(e.message ?? '')), JSON.stringify(edgeErrors(report, d1.host)));
    await verify('down', [{ destination: 'd1', images: ['index', 'large', 'list', 'small'] }]);
  });

  test('a 400 MB tag list is refused without reading it; the other destination is served', { timeout: 60_000 }, async () => {
    const { run, report } = await promote('huge', [
      { proxy: d1, rule: { match: { path: /\/tags\/list/ }, fault: { kind: 'body', status: 200, bytes: 400 * 1024 * 1024, prefix: '{"tags":["', fill: 'a', chunked: true } } },
    ]);
    assert.equal(run.code, 1);
    assert.ok(edgeErrors(report, d1.host).every((e) => e.reason === 'ResponseTooLarge'));
    const read = d1.requests.reduce((n, r) => n + r.bytesSent, 0);
    assert.ok(read < 4 * 64 * 1024 * 1024, `${read} bytes of tag lists read`);
    await verify('huge', [{ destination: 'd1', images: ['index', 'large', 'list', 'small'] }]);
  });

  test('a token realm on another host gets no credentials; the other destination is served', { timeout: 60_000 }, async () => {
    const capture = await startCapture();
    try {
      const { run, report } = await promote('realm', [{ proxy: d2, rule: { fault: { kind: 'headers', edit: (headers) => {
        const challenge = headers['www-authenticate'];
        return typeof challenge === 'string' ? { ...headers, 'www-authenticate': challenge.replace(/realm="[^"]*"/, `realm="${capture.url}/token"`) } : headers;
      } } } }]);
      assert.equal(run.code, 1);
      assert.ok(edgeErrors(report, d2.host).length === 4 && edgeErrors(report, d2.host).every((e) => e.reason === 'UntrustedRealm'), JSON.stringify(edgeErrors(report, d2.host)));
      assert.deepEqual(capture.seen, [], 'the foreign realm heard nothing');
      assert.ok(!run.stderr.includes(password) && !run.stdout.includes(password));
      await verify('realm', [{ destination: 'd2', images: ['index', 'large', 'list', 'small'] }]);
    } finally {
      await capture.close();
    }
  });

  test('an upload location on another host gets no credentials; the other destination is served', { timeout: 60_000 }, async () => {
    const capture = await startCapture(secured.url);
    try {
      const { run, report } = await promote('upload', [{ proxy: d2, rule: { match: { method: 'POST', path: /\/blobs\/uploads\/$/ }, fault: { kind: 'headers', edit: (headers) => {
        const location = new URL(String(headers.location), d2.url);
        return { ...headers, location: `${capture.url}${location.pathname}${location.search}` };
      } } } }]);
      assert.equal(run.code, 1);
      assert.ok(edgeErrors(report, d2.host).length === 4);
      assert.ok(capture.seen.length > 0);
      assert.deepEqual(capture.seen.filter((r) => r.headers.authorization !== undefined), [], 'no Authorization went to the other host');
      await verify('upload', [{ destination: 'd2', images: ['index', 'large', 'list', 'small'] }]);
    } finally {
      await capture.close();
    }
  });
});

/** A server on another loopback address (another host to Hoist) that records what reaches it and may pass it on. */
async function startCapture(forwardTo?: string): Promise<{ url: string; seen: { method: string; headers: IncomingHttpHeaders }[]; close(): Promise<void> }> {
  const seen: { method: string; headers: IncomingHttpHeaders }[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', async () => {
      seen.push({ method: req.method ?? '', headers: req.headers });
      if (!forwardTo) {
        res.writeHead(401, { 'content-type': 'application/json' });
        return void res.end('{"errors":[{"code":"UNAUTHORIZED"}]}');
      }
      try {
        const body = Buffer.concat(chunks);
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
