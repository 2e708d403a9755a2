// The pipeline against real registries: one staging, three production. Promotion keeps
// digests, a rerun writes nothing, tag moves and lost digests are reported per edge while the
// rest promotes, a dry run writes nothing, and a dead registry fails only its own edges.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { defaultPhases, runPipeline, type Edge, type PipelineOptions } from '../../src/pipeline/index.ts';
import { RegistryClient } from '../../src/registry/index.ts';
import { buildImage, buildIndex, pushImage, type BuiltImage } from '../support/images.ts';
import { startRegistry, type TestRegistry } from '../support/registry.ts';
import { runTool } from '../support/testbed.ts';

const options = (mode: PipelineOptions['mode'] = 'Promote'): PipelineOptions => ({ mode, concurrency: 4, planConcurrency: 8 });
const craneDigest = async (ref: string) => (await runTool('crane', ['digest', '--insecure', ref])).trim();
const writes = (client: RegistryClient) => ['PUT', 'POST', 'PATCH'].reduce((n, method) => n + client.stats.count({ method }), 0);

function edgesFor(staging: TestRegistry, prods: TestRegistry[], images: { name: string; image: BuiltImage; tags: string[] }[]): Edge[] {
  return prods.flatMap((prod) => images.map(({ name, image, tags }) => ({
    src: { host: staging.host, name }, dst: { host: prod.host, name: `prod/${name}` }, digest: image.digest, tags,
  })));
}

describe('pipeline', () => {
  let staging: TestRegistry;
  let prods: TestRegistry[];
  before(async () => {
    [staging, ...prods] = await Promise.all([startRegistry(), startRegistry(), startRegistry(), startRegistry()]);
  });
  after(() => Promise.all([staging, ...prods].map((r) => r.stop())));

  test('promotes an index and single-arch images to three registries; a rerun writes nothing', async () => {
    const images = [
      { name: 'multi', image: buildIndex(), tags: ['v1.0.0'] },
      { name: 'single', image: buildImage({ layers: [50_000, 20_000] }), tags: ['v1', 'latest-v1'] },
      { name: 'untagged', image: buildImage(), tags: [] },
    ];
    for (const { name, image } of images) await pushImage(staging, name, image, ['staging']);
    const edges = edgesFor(staging, prods, images);

    const dry = new RegistryClient();
    const plan = await runPipeline(edges, dry, options('Plan'));
    await dry.close();
    assert.equal(plan.summary.planned, 9);
    assert.deepEqual(plan.phases.map((p) => p.name), ['Setup', 'Plan', 'Provenance', 'Validate']);
    assert.equal(writes(dry), 0, 'a dry run writes nothing');

    const client = new RegistryClient();
    const report = await runPipeline(edges, client, options());
    await client.close();
    assert.equal(report.outcome, 'Succeeded', report.message);
    assert.deepEqual(report.summary, { planned: 9, toPromote: 0, promoted: 9, alreadyPresent: 0, lost: 0, tagMoves: 0, failed: 0, unverified: 0 });
    for (const prod of prods) {
      for (const { name, image, tags } of images) {
        for (const ref of tags.length ? tags.map((t) => `:${t}`) : [`@${image.digest}`]) {
          assert.equal(await craneDigest(`${prod.host}/prod/${name}${ref}`), image.digest);
        }
      }
    }

    const again = new RegistryClient();
    const rerun = await runPipeline(edges, again, options());
    await again.close();
    assert.equal(rerun.outcome, 'Succeeded');
    assert.equal(rerun.summary.alreadyPresent, 9);
    assert.equal(writes(again), 0, 'a rerun writes nothing');
    assert.match(rerun.phases.at(-1)!.message, /nothing to promote/);
  });

  test('a tag move is refused and a lost digest reported while the rest promotes', async () => {
    const good = buildImage();
    const moved = buildImage();
    const squatter = buildImage();
    await pushImage(staging, 'good', good);
    await pushImage(staging, 'moved', moved);
    await pushImage(prods[0]!, 'prod/moved', squatter, ['v2']);
    const lostDigest = `sha256:${'0'.repeat(64)}`;
    const edges: Edge[] = [
      { src: { host: staging.host, name: 'good' }, dst: { host: prods[0]!.host, name: 'prod/good' }, digest: good.digest, tags: ['v2'] },
      { src: { host: staging.host, name: 'moved' }, dst: { host: prods[0]!.host, name: 'prod/moved' }, digest: moved.digest, tags: ['v2'] },
      { src: { host: staging.host, name: 'good' }, dst: { host: prods[0]!.host, name: 'prod/lost' }, digest: lostDigest, tags: ['v9'] },
    ];
    const client = new RegistryClient();
    const report = await runPipeline(edges, client, options());
    await client.close();
    assert.equal(report.outcome, 'Refused');
    assert.equal(report.summary.promoted, 1);
    assert.equal(report.summary.tagMoves, 1);
    assert.equal(report.summary.lost, 1);
    const refused = report.edges.find((e) => e.state === 'tagMove')!;
    assert.equal(refused.reason, 'TagMoveRefused');
    assert.match(refused.detail!, new RegExp(`prod/moved:v2 is ${squatter.digest}`));
    assert.equal(await craneDigest(`${prods[0]!.host}/prod/moved:v2`), squatter.digest, 'the tag was not moved');
    assert.equal(await craneDigest(`${prods[0]!.host}/prod/good:v2`), good.digest);
  });

  test('a registry that is down fails only its own edges, with a clear reason', async () => {
    const dead = await startRegistry();
    await dead.stop();
    const image = buildImage();
    await pushImage(staging, 'partial', image);
    const edges: Edge[] = [
      { src: { host: staging.host, name: 'partial' }, dst: { host: prods[1]!.host, name: 'prod/partial' }, digest: image.digest, tags: ['v1'] },
      { src: { host: staging.host, name: 'partial' }, dst: { host: dead.host, name: 'prod/partial' }, digest: image.digest, tags: ['v1'] },
    ];
    const client = new RegistryClient({ retry: { attempts: 2, minDelayMs: 10, maxDelayMs: 20 }, timeouts: { connectMs: 2000 } });
    const report = await runPipeline(edges, client, options());
    await client.close();
    assert.equal(report.outcome, 'Failed');
    assert.equal(report.summary.promoted, 1);
    assert.equal(report.summary.failed, 1);
    const failed = report.edges.find((e) => e.state === 'failed')!;
    assert.equal(failed.edge.dst.host, dead.host);
    assert.equal(failed.reason, 'ConnectionFailed');
    assert.match(failed.detail!, /ECONNREFUSED/);
    assert.equal(await craneDigest(`${prods[1]!.host}/prod/partial:v1`), image.digest);
  });

  test('edges of one digest to several repositories of one registry move its blobs once, then mount', async () => {
    const image = buildImage({ layers: [100_000, 100_000] });
    await pushImage(staging, 'fan', image);
    const edges: Edge[] = ['a', 'b', 'c'].map((name) => ({
      src: { host: staging.host, name: 'fan' }, dst: { host: prods[2]!.host, name: `mirror-${name}/fan` }, digest: image.digest, tags: ['v1'],
    }));
    const client = new RegistryClient();
    const report = await runPipeline(edges, client, options());
    await client.close();
    assert.equal(report.summary.promoted, 3);
    const copies = report.edges.map((e) => e.copied!);
    assert.equal(copies.reduce((n, c) => n + c.blobs, 0), 3, 'config and two layers cross once');
    assert.equal(copies.reduce((n, c) => n + c.mounted, 0), 6, 'the other two repositories mount');
  });

  test('one digest sent to three registries is read from staging once', async () => {
    const image = buildImage({ layers: [60_000, 30_000] });
    await pushImage(staging, 'fanout', image);
    const edges: Edge[] = prods.map((prod) => ({
      src: { host: staging.host, name: 'fanout' }, dst: { host: prod.host, name: 'prod/fanout' }, digest: image.digest, tags: ['v1'],
    }));
    const client = new RegistryClient();
    const report = await runPipeline(edges, client, options());
    await client.close();
    assert.equal(report.summary.promoted, 3);
    // The manifest, the config and two layers, once each, however many destinations, and one
    // referrers query by Sign looking for staging signatures to carry along.
    assert.equal(client.stats.count({ method: 'GET', host: staging.host }), 5);
    for (const prod of prods) assert.equal(await craneDigest(`${prod.host}/prod/fanout:v1`), image.digest);
  });

  test('a tag that appears after Plan is not moved: it is read again right before the write', async () => {
    const ours = buildImage();
    const theirs = buildImage();
    await pushImage(staging, 'race', ours);
    const edges: Edge[] = [{ src: { host: staging.host, name: 'race' }, dst: { host: prods[0]!.host, name: 'prod/race' }, digest: ours.digest, tags: ['v1'] }];
    // Someone pushes the tag while the run verifies, after Plan saw it absent.
    const phases = defaultPhases.map((phase) => phase.name !== 'Validate' ? phase : {
      ...phase,
      run: async () => { await pushImage(prods[0]!, 'prod/race', theirs, ['v1']); return { message: 'pushed meanwhile' }; },
    });
    const client = new RegistryClient();
    const report = await runPipeline(edges, client, options(), phases);
    await client.close();
    assert.equal(report.outcome, 'Refused');
    assert.equal(report.edges[0]!.state, 'tagMove');
    assert.equal(report.edges[0]!.reason, 'TagMoveRefused');
    assert.equal(await craneDigest(`${prods[0]!.host}/prod/race:v1`), theirs.digest, 'the tag was not moved');
  });

  test('two edges giving one destination tag to two digests are both refused, nothing written', async () => {
    const a = buildImage();
    const b = buildImage();
    await pushImage(staging, 'twice-a', a);
    await pushImage(staging, 'twice-b', b);
    const dst = { host: prods[0]!.host, name: 'prod/twice' };
    const edges: Edge[] = [
      { src: { host: staging.host, name: 'twice-a' }, dst, digest: a.digest, tags: ['v2'] },
      { src: { host: staging.host, name: 'twice-b' }, dst, digest: b.digest, tags: ['v2'] },
    ];
    const client = new RegistryClient();
    const report = await runPipeline(edges, client, options(), defaultPhases);
    await client.close();
    assert.equal(report.outcome, 'Refused');
    assert.deepEqual(report.edges.map((e) => e.state), ['tagMove', 'tagMove']);
    assert.match(report.edges[0]!.detail!, /prod\/twice:v2 is given to 2 digests in this run/);
    await assert.rejects(craneDigest(`${prods[0]!.host}/prod/twice:v2`));
  });
});
