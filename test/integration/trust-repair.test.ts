// Sign and Attest against a real docker-registry and the real cosign, where what a registry
// holds is partial or hostile: a signature blob that does not say its size is read no further
// than a signature can be; a lost `.att` tag is repaired though the referrer form is there; a
// legacy `.sig` is made once per digest and every destination holds the same bytes; writers of
// one `.sig` tag take turns, so none loses another's layer.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { runPipeline, type Edge, type TrustOptions } from '../../src/pipeline/index.ts';
import { RegistryClient, sha256 } from '../../src/registry/index.ts';
import { appendLegacyLayers } from '../../src/signing/attach.ts';
import { discover } from '../../src/signing/discover.ts';
import { CosignMediaType, legacyTag } from '../../src/signing/formats.ts';
import { buildImage, buildIndex, pushImage, type BuiltImage } from '../support/images.ts';
import { startRegistry, type TestRegistry } from '../support/registry.ts';
import { runTool } from '../support/testbed.ts';

const PASSWORD = 'hoist-repair-password';
const http = ['--allow-http-registry', '--allow-insecure-registry'];

describe('Sign and Attest repair, against a real registry', () => {
  let staging: TestRegistry;
  let prodA: TestRegistry;
  let prodB: TestRegistry;
  let dir: string;
  let trust: TrustOptions;
  let pub: string;

  before(async () => {
    process.env.COSIGN_PASSWORD = PASSWORD;
    dir = mkdtempSync(join(tmpdir(), 'hoist-repair-'));
    [staging, prodA, prodB] = await Promise.all([startRegistry(), startRegistry(), startRegistry()]);
    await runTool('cosign', ['generate-key-pair', '--output-key-prefix', join(dir, 'promoter')]);
    pub = join(dir, 'promoter.pub');
    const key = readFileSync(join(dir, 'promoter.key'));
    trust = {
      signing: { key: { secretRef: { name: 'promoter' } } },
      readSecret: async (_name, k) => (k === 'cosign.key' ? key : Buffer.from(PASSWORD)),
    };
  });
  after(async () => {
    await Promise.all([staging, prodA, prodB].map((r) => r?.stop()));
    rmSync(dir, { recursive: true, force: true });
  });

  const promote = async (edges: Edge[]) => {
    const client = new RegistryClient();
    try {
      return await runPipeline(edges, client, { mode: 'Promote', concurrency: 4, planConcurrency: 8, trust });
    } finally {
      await client.close();
    }
  };
  const edge = (prod: TestRegistry, name: string, image: BuiltImage, tags: string[] = ['v1']): Edge =>
    ({ src: { host: staging.host, name }, dst: { host: prod.host, name: `prod/${name}` }, digest: image.digest, tags });
  const crane = (args: string[]) => runTool('crane', [...args, '--insecure']);
  const phase = (report: Awaited<ReturnType<typeof promote>>, name: string) => report.phases.find((p) => p.name === name)!;

  test('a signature blob whose descriptor gives no size is refused past 4 MiB, not read whole', async () => {
    const image = buildImage();
    await pushImage(staging, 'huge-sig', image);
    const repo = { host: staging.host, name: 'huge-sig' };
    const client = new RegistryClient();
    try {
      const big = Buffer.alloc(5 * 1024 * 1024, 0x61);
      const config = Buffer.from('{}');
      for (const blob of [big, config]) await client.uploadBlob(repo, sha256(blob), blob.length, blob);
      // A `.sig` manifest as a hostile registry may serve it: the layer descriptor has no size.
      const manifest = Buffer.from(JSON.stringify({
        schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: { mediaType: CosignMediaType.ociConfig, digest: sha256(config), size: config.length },
        layers: [{ mediaType: CosignMediaType.simpleSigning, digest: sha256(big), annotations: { 'dev.cosignproject.cosign/signature': 'AAAA' } }],
      }));
      await client.putManifest(repo, legacyTag(image.digest, 'sig'), { bytes: manifest, mediaType: 'application/vnd.oci.image.manifest.v1+json' });
      const { found, problems } = await discover(client, repo, image.digest);
      assert.equal(found.length, 0, 'nothing read as a signature');
      assert.match(problems.join('\n'), /larger than 4194304 bytes, more than a signature artifact has/);
    } finally {
      await client.close();
    }
  });

  test('a lost .att tag is repaired though our referrer is there; nothing else is written again', async () => {
    const image = buildImage();
    await pushImage(staging, 'att', image);
    const edges = [edge(prodA, 'att', image)];
    const first = await promote(edges);
    assert.equal(first.outcome, 'Succeeded', first.message);
    const ref = `${prodA.host}/prod/att`;
    const att = legacyTag(image.digest, 'att');
    const referrersBefore = await crane(['manifest', `${ref}:${image.digest.replace(':', '-')}`]);
    const attDigest = (await crane(['digest', `${ref}:${att}`])).trim();
    // Only the .att goes: the referrer (and its sha256-<hex> index tag) stays.
    await crane(['delete', `${ref}@${attDigest}`]);
    assert.ok(!(await crane(['ls', ref])).includes(att));

    const rerun = await promote(edges);
    assert.equal(rerun.outcome, 'Succeeded', rerun.message);
    assert.equal(phase(rerun, 'Attest').message, '1 promotion attestations written, 0 already there, for 1 digests');
    assert.ok((await crane(['ls', ref])).includes(att), 'the .att tag is back');
    assert.equal(await crane(['manifest', `${ref}:${image.digest.replace(':', '-')}`]), referrersBefore, 'no second referrer');
    // cosign reads the legacy attestation again.
    await runTool('cosign', ['verify-attestation', '--key', pub, '--type', 'https://k8s.io/promo-tools/promotion/v1', '--insecure-ignore-tlog=true', '--new-bundle-format=false', ...http, `${ref}@${image.digest}`]);
    const again = await promote(edges);
    assert.equal(phase(again, 'Attest').message.startsWith('0 promotion attestations written'), true, phase(again, 'Attest').message);
  });

  test('a legacy .sig is made once per digest: every destination holds the same layer', async () => {
    const image = buildImage();
    await pushImage(staging, 'mirrored', image);
    const report = await promote([edge(prodA, 'mirrored', image), edge(prodB, 'mirrored', image)]);
    assert.equal(report.outcome, 'Succeeded', report.message);
    assert.match(phase(report, 'Sign').message, /^1 digests signed by key promoter/);
    const sig = legacyTag(image.digest, 'sig');
    const [a, b] = await Promise.all([prodA, prodB].map((r) => crane(['manifest', `${r.host}/prod/mirrored:${sig}`])));
    assert.equal(JSON.parse(a!).layers.length, 1);
    assert.equal(a, b, 'the same .sig manifest, so the same payload and signature, in both');
    for (const r of [prodA, prodB]) {
      await runTool('cosign', ['verify', '--key', pub, '--insecure-ignore-tlog=true', '--new-bundle-format=false', ...http, `${r.host}/prod/mirrored@${image.digest}`]);
    }
  });

  test('one platform image under two indexes in one run is signed once; its .sig keeps one layer', async () => {
    const shared = buildIndex();
    // A second index naming the same platform images (and one more annotation, so another digest).
    const other = { ...shared, bytes: Buffer.from(JSON.stringify({ ...JSON.parse(shared.bytes.toString()), annotations: { variant: 'two' } })) };
    other.digest = sha256(other.bytes);
    await pushImage(staging, 'multi', shared);
    await pushImage(staging, 'multi', other);
    const report = await promote([edge(prodA, 'multi', shared, ['one']), edge(prodA, 'multi', other, ['two'])]);
    assert.equal(report.outcome, 'Succeeded', report.message);
    const children = shared.children.length;
    // Two indexes and their shared images: each digest signed once.
    assert.match(phase(report, 'Sign').message, new RegExp(`^${2 + children} digests signed by key promoter, ${children} already signed`));
    for (const child of shared.children) {
      const manifest = JSON.parse(await crane(['manifest', `${prodA.host}/prod/multi:${legacyTag(child.digest, 'sig')}`])) as { layers: unknown[] };
      assert.equal(manifest.layers.length, 1, `one signature of ${child.digest}`);
    }
  });

  test('writers of one .sig tag take turns: five at once leave five layers', async () => {
    const image = buildImage();
    await pushImage(prodB, 'concurrent', image);
    const repo = { host: prodB.host, name: 'concurrent' };
    const client = new RegistryClient();
    try {
      await Promise.all([1, 2, 3, 4, 5].map((n) => appendLegacyLayers(client, repo, image.digest, 'sig', [{
        mediaType: CosignMediaType.simpleSigning, data: Buffer.from(`{"n":${n}}`), annotations: { 'dev.cosignproject.cosign/signature': `sig-${n}` },
      }])));
    } finally {
      await client.close();
    }
    const manifest = JSON.parse(await crane(['manifest', `${prodB.host}/concurrent:${legacyTag(image.digest, 'sig')}`])) as { layers: { annotations: Record<string, string> }[] };
    assert.deepEqual(manifest.layers.map((l) => l.annotations['dev.cosignproject.cosign/signature']).sort(), ['sig-1', 'sig-2', 'sig-3', 'sig-4', 'sig-5']);
  });
});
