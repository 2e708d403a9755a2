// Signature replication's logic on the in-memory registry: what a replication covers, the
// two-phase listing (nothing read at a mirror for an unsigned digest), byte-for-byte copies of
// both formats, the steady state at tag listings only, Digest checks that repair a lagging tag
// and leave a diverged one alone, index children, the referrers API path, and failures per
// mirror. test/integration/replication.test.ts does the same against real registries and cosign.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { coversManifest, selectorMatches, signatureReplicationSpecSchema } from '../../src/api/signature-replication.ts';
import type { PromotionSpec } from '../../src/manifest/model.ts';
import { buildTargets, replicateTargets, runReplication, selectManifests, type ReplicationOptions } from '../../src/replication/index.ts';
import { bundleManifest, legacyManifest, CosignMediaType } from '../../src/signing/formats.ts';
import { buildImage, buildIndex, sha256, type BuiltImage } from '../support/images.ts';
import { MemoryRegistry } from '../support/memory-registry.ts';

const PRIMARY = 'prod.example/images';
const MIRRORS = ['eu.example/images', 'us.example/images'];
const hex = (digest: string) => digest.slice(7);
const json = (value: unknown) => Buffer.from(JSON.stringify(value));

function spec(images: Record<string, Record<string, string[]>>, mirrors = MIRRORS): PromotionSpec {
  return {
    registries: [{ name: 'staging.example/app', src: true }, { name: PRIMARY, src: false }, ...mirrors.map((name) => ({ name, src: false }))],
    images: Object.entries(images).map(([name, dmap]) => ({ name, dmap })),
  };
}

/** A cosign-shaped `.sig`/`.att` manifest with one signature layer per payload, as a storable image. */
function legacySignature(payloads: string[], signer = 'alice'): BuiltImage {
  const layers = payloads.map((p) => ({ data: Buffer.from(p), annotations: { 'dev.cosignproject.cosign/signature': `${signer}:${p}` } }));
  const built = legacyManifest(layers.map((l) => ({ mediaType: CosignMediaType.simpleSigning, digest: sha256(l.data), size: l.data.length, annotations: l.annotations })));
  return {
    digest: sha256(built.bytes), mediaType: built.mediaType, bytes: built.bytes, children: [],
    blobs: [{ ...built.config, mediaType: 'x' }, ...layers.map((l) => ({ digest: sha256(l.data), size: l.data.length, mediaType: 'x', data: l.data }))],
  };
}

/** A cosign v3 bundle referrer of `subject`, and the `sha256-<hex>` tag index listing it. */
function bundleReferrer(subject: BuiltImage, text = 'bundle'): { referrer: BuiltImage; index: BuiltImage } {
  const artifact = bundleManifest(Buffer.from(text), { mediaType: subject.mediaType, digest: subject.digest, size: subject.bytes.length }, 'https://sigstore.dev/cosign/sign/v1', new Date(0));
  const referrer: BuiltImage = { digest: sha256(artifact.bytes), mediaType: artifact.mediaType, bytes: artifact.bytes, children: [], blobs: artifact.blobs.map((b) => ({ ...b, mediaType: 'x' })) };
  const index = json({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [{ mediaType: artifact.mediaType, digest: referrer.digest, size: artifact.bytes.length, artifactType: CosignMediaType.bundle }] });
  return { referrer, index: { digest: sha256(index), mediaType: 'application/vnd.oci.image.index.v1+json', bytes: index, children: [], blobs: [] } };
}

const noApi: ReplicationOptions = { referrersApi: async () => false };

interface World {
  registry: MemoryRegistry;
  images: { signed: BuiltImage; unsigned: BuiltImage; bundled: BuiltImage; tagless: BuiltImage };
  sig: BuiltImage;
  att: BuiltImage;
  bundle: ReturnType<typeof bundleReferrer>;
  manifest: PromotionSpec;
}

/** The primary holds a .sig and .att for `signed`, a bundle for `bundled`, nothing for `unsigned`; mirrors hold the images. */
function world(): World {
  const registry = new MemoryRegistry();
  const images = { signed: buildImage(), unsigned: buildImage(), bundled: buildImage(), tagless: buildImage() };
  const manifest = spec({ app: { [images.signed.digest]: ['v1'], [images.unsigned.digest]: ['v2'], [images.bundled.digest]: ['v3'], [images.tagless.digest]: [] } });
  for (const repo of [PRIMARY, ...MIRRORS]) {
    registry.put(`${repo}/app`, images.signed, ['v1']);
    registry.put(`${repo}/app`, images.unsigned, ['v2']);
    registry.put(`${repo}/app`, images.bundled, ['v3']);
  }
  // The tagless digest is in the primary and the first mirror only.
  registry.put(`${PRIMARY}/app`, images.tagless);
  registry.put(`${MIRRORS[0]}/app`, images.tagless);
  const sig = legacySignature(['payload-1']);
  const att = legacySignature(['statement-1'], 'builder');
  registry.put(`${PRIMARY}/app`, sig, [`sha256-${hex(images.signed.digest)}.sig`]);
  registry.put(`${PRIMARY}/app`, att, [`sha256-${hex(images.signed.digest)}.att`]);
  registry.put(`${PRIMARY}/app`, legacySignature(['payload-t']), [`sha256-${hex(images.tagless.digest)}.sig`]);
  const bundle = bundleReferrer(images.bundled);
  registry.put(`${PRIMARY}/app`, bundle.referrer);
  registry.put(`${PRIMARY}/app`, bundle.index, [`sha256-${hex(images.bundled.digest)}`]);
  return { registry, images, sig, att, bundle, manifest };
}

const targetsOf = (manifest: PromotionSpec) => buildTargets([{ name: 'app', spec: manifest }], { registry: PRIMARY }).targets;

describe('what a replication covers', () => {
  test('the primary is the source or the destination a registry prefix names; the other destinations are mirrors', () => {
    const digest = `sha256:${'a'.repeat(64)}`;
    const k8s = {
      registries: [
        { name: 'gcr.io/k8s-staging-bom', src: true },
        { name: 'asia-east1-docker.pkg.dev/k8s-artifacts-prod/images/bom', src: false },
        { name: 'us-central1-docker.pkg.dev/k8s-artifacts-prod/images/bom', src: false },
        { name: 'europe-west1-docker.pkg.dev/k8s-artifacts-prod/images/bom', src: false },
      ],
      images: [{ name: 'bom', dmap: { [digest]: ['v0.5.0'] } }],
    };
    const [canonical] = buildTargets([{ name: 'bom', spec: k8s }], { registry: 'us-central1-docker.pkg.dev/k8s-artifacts-prod/images' }).targets;
    assert.deepEqual(canonical!.primary, { host: 'us-central1-docker.pkg.dev', name: 'k8s-artifacts-prod/images/bom/bom' });
    assert.deepEqual(canonical!.mirrors.map((m) => m.host), ['asia-east1-docker.pkg.dev', 'europe-west1-docker.pkg.dev']);
    const [source] = buildTargets([{ name: 'bom', spec: k8s }], { source: true }).targets;
    assert.equal(source!.primary.host, 'gcr.io');
    assert.equal(source!.mirrors.length, 3);
    const missing = buildTargets([{ name: 'bom', spec: k8s }], { registry: 'registry.k8s.io' });
    assert.deepEqual([missing.targets.length, missing.problems[0]?.reason], [0, 'PrimaryNotFound']);
    const ambiguous = buildTargets([{ name: 'bom', spec: k8s }], { registry: 'us-central1-docker.pkg.dev/k8s' });
    assert.deepEqual(ambiguous.problems.map((p) => p.reason), ['PrimaryNotFound'], 'a prefix is a whole path segment');
    const vague = buildTargets([{ name: 'bom', spec: { ...k8s, registries: [...k8s.registries, { name: 'us-central1-docker.pkg.dev/k8s-artifacts-prod/images/bom2', src: false }] } }], { registry: 'us-central1-docker.pkg.dev/k8s-artifacts-prod/images' });
    assert.match(vague.problems[0]!.message, /has 2 destination registries below/);
  });

  test('a digest two manifests cover gets the union of their mirrors and tags, once', () => {
    const digest = `sha256:${'b'.repeat(64)}`;
    const { targets } = buildTargets([
      { name: 'one', spec: spec({ app: { [digest]: ['v1'] } }, [MIRRORS[0]!]) },
      { name: 'two', spec: spec({ app: { [digest]: ['v1', 'latest'] } }, [MIRRORS[1]!]) },
    ], { registry: PRIMARY });
    assert.equal(targets.length, 1);
    assert.deepEqual(targets[0]!.mirrors.map((m) => m.host), ['eu.example', 'us.example']);
    assert.deepEqual(targets[0]!.tags, ['v1', 'latest']);
  });

  test('names and label selectors choose the manifests; a missing name is a problem', () => {
    const manifests: { name: string; labels?: Record<string, string> }[] = [{ name: 'bom', labels: { team: 'release' } }, { name: 'kube', labels: { team: 'release', tier: 'core' } }, { name: 'other' }];
    const base = signatureReplicationSpecSchema.parse({ manifests: { selector: {} }, primary: { source: true } });
    assert.equal(selectManifests(base, manifests).selected.length, 3, '{} selects every manifest');
    const bySelector = { ...base, manifests: { selector: { matchLabels: { team: 'release' }, matchExpressions: [{ key: 'tier', operator: 'NotIn' as const, values: ['core'] }] } } };
    assert.deepEqual(selectManifests(bySelector, manifests).selected.map((m) => m.name), ['bom']);
    const byName = { ...base, manifests: { names: ['other', 'gone'] } };
    const chosen = selectManifests(byName, manifests);
    assert.deepEqual(chosen.selected.map((m) => m.name), ['other']);
    assert.deepEqual(chosen.problems.map((p) => p.reason), ['PromotionManifestNotFound']);
    assert.deepEqual(selectManifests({ ...base, manifests: { names: [] } }, manifests).problems.map((p) => p.reason), ['NoManifestsCovered']);
    assert.ok(selectorMatches({ matchExpressions: [{ key: 'tier', operator: 'Exists' }] }, { tier: 'x' }));
    assert.ok(!selectorMatches({ matchExpressions: [{ key: 'tier', operator: 'DoesNotExist' }] }, { tier: 'x' }));
    assert.ok(coversManifest({ manifests: { names: ['x'] } }, { name: 'x' }));
  });

  test('the spec schema: exactly one primary, a way to choose manifests, defaults as documented', () => {
    const parsed = signatureReplicationSpecSchema.parse({ manifests: { names: ['bom'] }, primary: { registry: PRIMARY } });
    assert.deepEqual([parsed.formats, parsed.check, parsed.interval, parsed.suspend], [['legacy', 'bundle'], 'Presence', '30m', false]);
    assert.equal(signatureReplicationSpecSchema.safeParse({ manifests: { names: ['bom'] }, primary: { registry: PRIMARY, source: true } }).success, false);
    assert.equal(signatureReplicationSpecSchema.safeParse({ manifests: { names: ['bom'] }, primary: {} }).success, false);
    assert.equal(signatureReplicationSpecSchema.safeParse({ manifests: {}, primary: { source: true } }).success, false);
    assert.equal(signatureReplicationSpecSchema.safeParse({ manifests: { selector: { matchExpressions: [{ key: 'a', operator: 'In' }] } }, primary: { source: true } }).success, false);
  });
});

describe('replication on the in-memory registry', () => {
  test('a dry run reads the primary, then only the mirrors of signed digests, and writes nothing', async () => {
    const w = world();
    const report = await replicateTargets(targetsOf(w.manifest), w.registry.client(), { ...noApi, dryRun: true });
    assert.equal(report.reason, 'ReplicationPlanned', report.message);
    assert.deepEqual(report.counts, { digests: 4, unsigned: 1, signed: 3, mirrors: 6, inSync: 0, repaired: 5, artifacts: 7, notPromoted: 1, diverged: 0, failed: 0 });
    assert.equal(w.registry.calls.filter((c) => /^(PUT|POST)/.test(c)).length, 0);
    // Nothing is read at a mirror for the unsigned digest, not even its presence.
    const unsigned = hex(w.images.unsigned.digest);
    assert.deepEqual(w.registry.calls.filter((c) => c.includes(unsigned)), []);
    // One listing per repository; the tagless digest's presence is asked where it matters only.
    assert.equal(w.registry.count('GET tags'), 3);
    assert.deepEqual(w.registry.calls.filter((c) => c.startsWith('HEAD')).map((c) => c.split(' ').at(-1)), ['eu.example/images/app', 'us.example/images/app']);
  });

  test('missing signatures are copied byte for byte, both formats; the rerun costs tag listings only', async () => {
    const w = world();
    const client = w.registry.client();
    const report = await replicateTargets(targetsOf(w.manifest), client, noApi);
    assert.equal(report.reason, 'Replicated', report.message);
    assert.deepEqual([report.counts.repaired, report.counts.notPromoted, report.counts.failed], [5, 1, 0]);
    for (const mirror of MIRRORS) {
      const repo = `${mirror}/app`;
      assert.equal(w.registry.tag(repo, `sha256-${hex(w.images.signed.digest)}.sig`), w.sig.digest, `${repo}: the primary's .sig manifest, same digest`);
      assert.equal(w.registry.tag(repo, `sha256-${hex(w.images.signed.digest)}.att`), w.att.digest);
      assert.equal(w.registry.tag(repo, `sha256-${hex(w.images.bundled.digest)}`), w.bundle.index.digest);
      assert.ok(w.registry.has(repo, w.bundle.referrer.digest), 'the bundle referrer itself');
    }
    assert.ok(w.registry.tag(`${MIRRORS[0]}/app`, `sha256-${hex(w.images.tagless.digest)}.sig`));
    assert.equal(w.registry.tag(`${MIRRORS[1]}/app`, `sha256-${hex(w.images.tagless.digest)}.sig`), undefined, 'not written where the image is not');
    const changes = report.changes.map((c) => `${c.repository}@${c.digest.slice(7, 11)} ${c.artifacts.length}`);
    assert.equal(changes.length, 5);

    w.registry.calls.length = 0;
    const again = await replicateTargets(targetsOf(w.manifest), client, noApi);
    assert.deepEqual([again.counts.inSync, again.counts.repaired, again.counts.notPromoted], [5, 0, 1]);
    // Steady state: the listings, and the presence of the one digest the second mirror lacks.
    assert.deepEqual(w.registry.calls.filter((c) => !c.startsWith('GET tags')), [`HEAD manifest ${w.images.tagless.digest} us.example/images/app`]);
  });

  test('Digest checks replace a tag that lags behind the primary and leave one with signatures of its own', async () => {
    const w = world();
    const client = w.registry.client();
    await replicateTargets(targetsOf(w.manifest), client, noApi);
    const sigTag = `sha256-${hex(w.images.signed.digest)}.sig`;
    // The primary's .sig gains a second signature; eu still has the first only, us gets one nobody else has.
    const grown = legacySignature(['payload-1', 'payload-2']);
    w.registry.put(`${PRIMARY}/app`, grown, [sigTag]);
    const foreign = legacySignature(['payload-1', 'payload-us']);
    w.registry.put(`${MIRRORS[1]}/app`, foreign, [sigTag]);

    const presence = await replicateTargets(targetsOf(w.manifest), client, noApi);
    assert.equal(presence.counts.repaired, 0, 'Presence trusts listed tags');
    const digest = await replicateTargets(targetsOf(w.manifest), client, { ...noApi, check: 'Digest' });
    assert.equal(digest.reason, 'SignatureDiverged', digest.message);
    assert.equal(digest.outcome, 'Refused');
    assert.deepEqual([digest.counts.repaired, digest.counts.diverged], [1, 1]);
    assert.equal(w.registry.tag(`${MIRRORS[0]}/app`, sigTag), grown.digest, 'eu lost nothing: it gets the primary\'s bytes');
    assert.equal(w.registry.tag(`${MIRRORS[1]}/app`, sigTag), foreign.digest, 'us is neither overwritten nor merged');
    assert.match(digest.failures[0]!.message, /us\.example\/images\/app:sha256-.*\.sig holds signatures .* lacks; left as it is/);
  });

  test('where tag lists name digests (Google\'s), Presence compares them for free: a lagging .sig gets the primary\'s bytes, a moved image tag is not taken for the image', async () => {
    const w = world();
    w.registry.listDigests = true;
    const client = w.registry.client();
    await replicateTargets(targetsOf(w.manifest), client, noApi);
    const sigTag = `sha256-${hex(w.images.signed.digest)}.sig`;
    const grown = legacySignature(['payload-1', 'payload-2']);
    w.registry.put(`${PRIMARY}/app`, grown, [sigTag]);
    const foreign = legacySignature(['payload-1', 'payload-us']);
    w.registry.put(`${MIRRORS[1]}/app`, foreign, [sigTag]);
    w.registry.calls.length = 0;
    const presence = await replicateTargets(targetsOf(w.manifest), client, noApi);
    assert.deepEqual([presence.counts.repaired, presence.counts.diverged], [1, 1], presence.message);
    assert.equal(w.registry.tag(`${MIRRORS[0]}/app`, sigTag), grown.digest, 'eu gets the primary\'s bytes, the same digest');
    assert.equal(w.registry.tag(`${MIRRORS[1]}/app`, sigTag), foreign.digest, 'us holds a signature the primary lacks: left, reported');
    // (The tagless digest the second mirror lacks is asked for every run, as in the steady state.)
    assert.deepEqual(w.registry.calls.filter((c) => c.startsWith('HEAD') && !c.includes(w.images.tagless.digest)), [], 'no HEAD was needed to compare');

    // An image tag of the manifest moved by hand at a mirror: the list shows it points elsewhere,
    // so it is not taken as proof the digest is there; the digest itself is asked for.
    const fresh = world();
    fresh.registry.listDigests = true;
    fresh.registry.put(`${MIRRORS[0]}/app`, buildImage(), ['v1']);
    await replicateTargets(targetsOf(fresh.manifest), fresh.registry.client(), noApi);
    assert.equal(fresh.registry.count(`HEAD manifest ${fresh.images.signed.digest} ${MIRRORS[0]}/app`), 1);
    assert.equal(fresh.registry.count(`HEAD manifest ${fresh.images.signed.digest} ${MIRRORS[1]}/app`), 0, 'where the tag still points at it, the listing answers');
  });

  test('images of an index signed on their own are found through the signed index and go along', async () => {
    const registry = new MemoryRegistry();
    const index = buildIndex();
    const manifest = spec({ multi: { [index.digest]: ['v1'] } });
    for (const repo of [PRIMARY, ...MIRRORS]) registry.put(`${repo}/multi`, index, ['v1']);
    registry.put(`${PRIMARY}/multi`, legacySignature(['index']), [`sha256-${hex(index.digest)}.sig`]);
    const child = index.children[1]!;
    registry.put(`${PRIMARY}/multi`, legacySignature(['child']), [`sha256-${hex(child.digest)}.sig`]);
    // A signature of something no manifest covers stays where it is.
    registry.put(`${PRIMARY}/multi`, legacySignature(['stray']), [`sha256-${'c'.repeat(64)}.sig`]);
    const report = await replicateTargets(targetsOf(manifest), registry.client(), noApi);
    assert.deepEqual([report.counts.digests, report.counts.signed, report.counts.repaired], [2, 2, 4], report.message);
    for (const mirror of MIRRORS) {
      assert.ok(registry.tag(`${mirror}/multi`, `sha256-${hex(child.digest)}.sig`));
      assert.equal(registry.tag(`${mirror}/multi`, `sha256-${'c'.repeat(64)}.sig`), undefined);
    }
  });

  test('a primary serving the referrers API is asked per digest; mirrors get the referrers it lists', async () => {
    const registry = new MemoryRegistry();
    const image = buildImage();
    const unsigned = buildImage();
    const manifest = spec({ app: { [image.digest]: ['v1'], [unsigned.digest]: ['v2'] } });
    for (const repo of [PRIMARY, ...MIRRORS]) {
      registry.put(`${repo}/app`, image, ['v1']);
      registry.put(`${repo}/app`, unsigned, ['v2']);
    }
    const { referrer } = bundleReferrer(image);
    registry.put(`${PRIMARY}/app`, referrer);
    const apiEverywhere: ReplicationOptions = { referrersApi: async (repo) => repo.host !== MIRRORS[1]!.split('/')[0] };
    const report = await replicateTargets(targetsOf(manifest), registry.client(), apiEverywhere);
    assert.deepEqual([report.counts.signed, report.counts.repaired], [1, 2], report.message);
    assert.equal(registry.calls.filter((c) => c.startsWith('GET referrers') && c.endsWith(`${PRIMARY}/app`)).length, 2, 'each digest asked at the primary');
    assert.ok(registry.has(`${MIRRORS[0]}/app`, referrer.digest));
    assert.ok(registry.has(`${MIRRORS[1]}/app`, referrer.digest));
    // The mirror without the API gets the tag schema's index, listing the referrer.
    const indexDigest = registry.tag(`${MIRRORS[1]}/app`, `sha256-${hex(image.digest)}`);
    assert.ok(indexDigest);
    assert.equal(registry.tag(`${MIRRORS[0]}/app`, `sha256-${hex(image.digest)}`), undefined);
    // Nothing was asked of any mirror about the unsigned digest.
    assert.deepEqual(registry.calls.filter((c) => c.includes(hex(unsigned.digest)) && !c.endsWith(`${PRIMARY}/app`)), []);
    const again = await replicateTargets(targetsOf(manifest), registry.client(), apiEverywhere);
    assert.deepEqual([again.counts.inSync, again.counts.repaired], [2, 0]);
  });

  test('a failing mirror fails its pairs with the registry\'s reason; the others are repaired', async () => {
    const w = world();
    w.registry.failHost('us.example', 'Unauthorized');
    const report = await replicateTargets(targetsOf(w.manifest), w.registry.client(), noApi);
    assert.equal(report.outcome, 'Failed');
    assert.equal(report.reason, 'SignaturesNotReplicated');
    assert.deepEqual([report.counts.repaired, report.counts.failed], [3, 3], report.message);
    assert.deepEqual(report.failures.map((f) => [f.repository, f.reason]), [['us.example/images/app', 'Unauthorized']]);
    assert.match(report.message, /listing us\.example\/images\/app failed: Unauthorized/);
  });

  test('a failing primary fails the pairs of its digests, and no mirror is read', async () => {
    const w = world();
    w.registry.failHost('prod.example', 'ServerError');
    const report = await replicateTargets(targetsOf(w.manifest), w.registry.client(), noApi);
    assert.deepEqual([report.outcome, report.counts.failed, report.counts.signed], ['Failed', 8, 0]);
    assert.deepEqual(w.registry.calls.filter((c) => !c.endsWith(`${PRIMARY}/app`)), []);
  });

  test('runReplication: the spec chooses manifests, primary, formats; a missing manifest refuses', async () => {
    const w = world();
    const replication = signatureReplicationSpecSchema.parse({ manifests: { names: ['app', 'gone'] }, primary: { registry: PRIMARY }, formats: ['legacy'] });
    const report = await runReplication(replication, [{ name: 'app', spec: w.manifest }, { name: 'other', spec: spec({}) }], w.registry.client(), noApi);
    assert.deepEqual([report.outcome, report.reason], ['Refused', 'PromotionManifestNotFound'], report.message);
    assert.equal(report.counts.signed, 2, 'the bundle-only digest is not replicated with formats: [legacy]');
    assert.ok(!report.changes.some((c) => c.artifacts.some((a) => !a.endsWith('.sig') && !a.endsWith('.att'))));
  });
});
