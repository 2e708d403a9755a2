// What a rerun costs when nothing is new (issues 15 and 18), counted at real registries: every
// request the registries see goes through a fault proxy in front of them. With the inventory of
// the run before, a rerun reads one tag list per destination repository and nothing else, also
// with signing configured; a deleted tag or signature is caught on the next run and repaired,
// and what is repaired verifies with cosign. Google's tag lists, which carry digests, spare the
// tag reads of a first run too; a plan keeps a handful of connections per registry host; and
// `hoist plan --cache-file` keeps the inventory between CLI runs.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { runPipeline, type Edge, type PipelineOptions, type TrustOptions } from '../../src/pipeline/index.ts';
import { Inventory, RegistryClient } from '../../src/registry/index.ts';
import { runHoist } from '../support/cli.ts';
import { startFaultProxy, type FaultProxy } from '../support/fault-proxy.ts';
import { buildImage, buildIndex, pushImage } from '../support/images.ts';
import { startRegistry, type TestRegistry } from '../support/registry.ts';
import { runTool } from '../support/testbed.ts';

const PASSWORD = 'hoist-steady-password';
process.env.COSIGN_PASSWORD = PASSWORD;
const http = ['--allow-http-registry', '--allow-insecure-registry'];

/** Requests the proxies saw since the last reset, as `METHOD path`, without the host. */
const seen = (proxies: FaultProxy[]) => proxies.flatMap((p) => p.requests.map((r) => `${r.method} ${r.path}`)).sort();
const reset = (proxies: FaultProxy[]) => { for (const p of proxies) p.requests.splice(0); };

describe('steady state', () => {
  let staging: TestRegistry;
  let prods: TestRegistry[];
  let proxies: FaultProxy[];
  let stagingProxy: FaultProxy;
  let dir: string;
  let key: { key: string; pub: string };

  before(async () => {
    [staging, ...prods] = await Promise.all([startRegistry(), startRegistry(), startRegistry()]);
    stagingProxy = await startFaultProxy(staging.url);
    proxies = await Promise.all(prods.map((p) => startFaultProxy(p.url)));
    dir = mkdtempSync(join(tmpdir(), 'hoist-steady-'));
    await runTool('cosign', ['generate-key-pair', '--output-key-prefix', join(dir, 'promoter')]);
    key = { key: join(dir, 'promoter.key'), pub: join(dir, 'promoter.pub') };
  });
  after(async () => {
    await Promise.all([stagingProxy, ...proxies].map((p) => p.close()));
    await Promise.all([staging, ...prods].map((r) => r.stop()));
    rmSync(dir, { recursive: true, force: true });
  });

  const run = async (edges: Edge[], inventory: Inventory, options: Partial<PipelineOptions> = {}) => {
    const client = new RegistryClient({ inventory });
    try {
      return await runPipeline(edges, client, { mode: 'Promote', concurrency: 4, planConcurrency: 8, ...options });
    } finally {
      await client.close();
    }
  };

  test('with signing configured and nothing missing, a rerun reads the tag lists and nothing else; a deleted signature is repaired', async () => {
    const image = buildImage();
    const index = buildIndex();
    await pushImage(staging, 'steady/single', image);
    await pushImage(staging, 'steady/multi', index);
    const edges: Edge[] = proxies.flatMap((proxy) => [
      { src: { host: stagingProxy.host, name: 'steady/single' }, dst: { host: proxy.host, name: 'prod/single' }, digest: image.digest, tags: ['v1'] },
      { src: { host: stagingProxy.host, name: 'steady/multi' }, dst: { host: proxy.host, name: 'prod/multi' }, digest: index.digest, tags: ['v1', 'latest'] },
    ]);
    const trust: TrustOptions = {
      signing: { key: { secretRef: { name: 'promoter' } } },
      readSecret: async (_name, k) => (k === 'cosign.key' ? readFileSync(key.key) : Buffer.from(PASSWORD)),
    };
    const inventory = new Inventory();
    const first = await run(edges, inventory, { trust });
    assert.equal(first.outcome, 'Succeeded', first.message);
    assert.equal(first.summary.promoted, 4);

    reset([stagingProxy, ...proxies]);
    const rerun = await run(edges, inventory, { trust });
    assert.equal(rerun.outcome, 'Succeeded', rerun.message);
    assert.equal(rerun.summary.alreadyPresent, 4);
    assert.deepEqual(seen([stagingProxy, ...proxies]), [
      'GET /v2/prod/multi/tags/list', 'GET /v2/prod/multi/tags/list', 'GET /v2/prod/single/tags/list', 'GET /v2/prod/single/tags/list',
    ], 'one tag list per destination repository, nothing else: no tag, signature or staging read');
    assert.ok(rerun.attestations.length > 0, 'the attestations are still named, from the inventory');

    // Someone deletes the legacy signature of one image in one registry: the next run sees its
    // tag gone from the list, repairs that one destination, and cosign verifies it again.
    const sigTag = `${image.digest.replace(':', '-')}.sig`;
    const accept = { accept: 'application/vnd.oci.image.manifest.v1+json' };
    const sig = await fetch(`${prods[1]!.url}/v2/prod/single/manifests/${sigTag}`, { method: 'HEAD', headers: accept });
    const deleted = await fetch(`${prods[1]!.url}/v2/prod/single/manifests/${sig.headers.get('docker-content-digest')}`, { method: 'DELETE' });
    assert.equal(deleted.status, 202);
    await assert.rejects(runTool('cosign', ['verify', '--key', key.pub, ...http, '--insecure-ignore-tlog=true', '--signature-digest-algorithm', 'sha256', '--new-bundle-format=false', `${proxies[1]!.host}/prod/single@${image.digest}`]));
    reset([stagingProxy, ...proxies]);
    const repair = await run(edges, inventory, { trust });
    assert.equal(repair.outcome, 'Succeeded', repair.message);
    assert.match(repair.phases.find((p) => p.name === 'Sign')!.message, /in 1 destinations/);
    assert.ok(proxies[0]!.requests.every((r) => r.method === 'GET' || r.method === 'HEAD'), 'nothing is written where nothing was lost (it is read as the source of the existing signature)');
    assert.ok(proxies[0]!.requests.every((r) => r.path.startsWith('/v2/prod/single/') || r.path === '/v2/prod/multi/tags/list'), 'the index, complete everywhere, is only listed');
    await runTool('cosign', ['verify', '--key', key.pub, ...http, '--insecure-ignore-tlog=true', `${proxies[1]!.host}/prod/single@${image.digest}`]);
  });

  test('a tag deleted since the last run is caught and promoted again; one moved is read once the verification interval passes', async () => {
    const [a, b] = [buildImage(), buildImage()];
    await pushImage(staging, 'steady/tags', a);
    const edges: Edge[] = [{ src: { host: stagingProxy.host, name: 'steady/tags' }, dst: { host: proxies[0]!.host, name: 'prod/tags' }, digest: a.digest, tags: ['v1'] }];
    const inventory = new Inventory();
    assert.equal((await run(edges, inventory)).summary.promoted, 1);
    const manifest = await fetch(`${prods[0]!.url}/v2/prod/tags/manifests/v1`, { method: 'HEAD', headers: { accept: a.mediaType } });
    await fetch(`${prods[0]!.url}/v2/prod/tags/manifests/${manifest.headers.get('docker-content-digest')}`, { method: 'DELETE' });
    const again = await run(edges, inventory);
    assert.equal(again.summary.promoted, 1, 'the deleted tag is written again');

    // Moved in place (pushed over, the list unchanged): within the interval the run believes
    // what it read before; with the interval over it reads the tag and refuses the move.
    await pushImage(prods[0]!, 'prod/tags', b, ['v1']);
    assert.equal((await run(edges, inventory)).summary.alreadyPresent, 1, 'documented: a move within the interval is not seen');
    const verified = await run(edges, inventory, { verifyIntervalMs: 0 });
    assert.equal(verified.summary.tagMoves, 1);
  });

  test('a Google tag list\'s digests spare the tag reads; a plan keeps a handful of connections per host', async () => {
    const images = Array.from({ length: 12 }, () => buildImage());
    for (const [i, image] of images.entries()) {
      await pushImage(staging, `steady/many${i}`, image);
      await pushImage(prods[0]!, `prod/many${i}`, image, ['v1', 'v2']);
    }
    // The proxy answers tag lists as Artifact Registry does, with a manifest field.
    proxies[0]!.addRule({
      match: { method: 'GET', path: /\/tags\/list/ },
      fault: {
        kind: 'respond', answer: ({ path }) => {
          const n = Number(/many(\d+)/.exec(path)![1]);
          const manifest = { [images[n]!.digest]: { tag: ['v1', 'v2'], mediaType: images[n]!.mediaType, imageSizeBytes: '1' } };
          return { status: 200, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: `prod/many${n}`, tags: ['v1', 'v2'], manifest, child: [] }) };
        },
      },
    });
    const edges: Edge[] = images.map((image, i) => ({ src: { host: stagingProxy.host, name: `steady/many${i}` }, dst: { host: proxies[0]!.host, name: `prod/many${i}` }, digest: image.digest, tags: ['v1', 'v2'] }));
    reset([stagingProxy, ...proxies]);
    proxies[0]!.resetConnections();
    const report = await run(edges, new Inventory({ maxEntries: 0 }), { mode: 'Plan', planConcurrency: 4 });
    proxies[0]!.clearRules();
    assert.equal(report.summary.alreadyPresent, 12);
    assert.equal(proxies[0]!.requests.length, 12, 'twelve tag lists, no tag read');
    assert.ok(proxies[0]!.connections <= 8, `${proxies[0]!.connections} connections for 12 requests: at most the pool's 8`);
  });

  test('hoist plan --cache-file: the second run reads the tag lists only', async () => {
    const image = buildImage();
    await pushImage(staging, 'steady/cli', image);
    await pushImage(prods[0]!, 'prod/cli', image, ['v1']);
    await pushImage(prods[1]!, 'prod/cli', image, ['v1']);
    const manifest = join(dir, 'cli.yaml');
    writeFileSync(manifest, [
      'registries:', `- name: ${stagingProxy.host}/steady`, '  src: true', `- name: ${proxies[0]!.host}/prod`, `- name: ${proxies[1]!.host}/prod`,
      'images:', '- name: cli', '  dmap:', `    "${image.digest}": ["v1"]`, '',
    ].join('\n'));
    const cache = join(dir, 'inventory.json');
    const first = await runHoist(['plan', '-f', manifest, '--cache-file', cache, '-o', 'json']);
    assert.equal(first.code, 0, first.stderr);
    reset([stagingProxy, ...proxies]);
    const second = await runHoist(['plan', '-f', manifest, '--cache-file', cache, '-o', 'json']);
    assert.equal(second.code, 0, second.stderr);
    assert.equal((JSON.parse(second.stdout) as { summary: { alreadyPresent: number } }).summary.alreadyPresent, 2);
    assert.deepEqual(seen([stagingProxy, ...proxies]), ['GET /v2/prod/cli/tags/list', 'GET /v2/prod/cli/tags/list']);

    writeFileSync(cache, '{"version": 2, "digests": ["not a digest"]}');
    const broken = await runHoist(['plan', '-f', manifest, '--cache-file', cache]);
    assert.equal(broken.code, 0);
    assert.match(broken.stderr, /is not a Hoist inventory \(its digests are not all sha256 digests\); not used, it will be rewritten/);
  });
});
