// Supply-chain trust against real registries and the real cosign (v3): staging images signed
// and attested with `cosign sign|attest --key` pass Validate/Provenance while unsigned, wrongly
// signed, tampered and wrongly built ones are refused (Enforce) or reported (Warn) and the rest
// promote; what Hoist signs and attests verifies with `cosign verify|verify-attestation`; a rerun
// after a crash between Promote and Sign repairs without duplicates.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { defaultPhases, runPipeline, type Edge, type PipelineOptions, type TrustOptions } from '../../src/pipeline/index.ts';
import { PROMOTION_PREDICATE } from '../../src/provenance/promotion.ts';
import { RegistryClient } from '../../src/registry/index.ts';
import { buildImage, buildIndex, pushImage, type BuiltImage } from '../support/images.ts';
import { startRegistry, type TestRegistry } from '../support/registry.ts';
import { runTool } from '../support/testbed.ts';

const PASSWORD = 'hoist-test-password';
// cosign reads key passwords from the environment; the child processes inherit it.
process.env.COSIGN_PASSWORD = PASSWORD;

// Local registries speak plain HTTP, and these key signatures use no Rekor: cosign v3 signs without
// a transparency log when its signing config lists none, and verifies with --insecure-ignore-tlog;
// Hoist's policies say the same with insecureIgnoreTlog. (trust-sigstore.test.ts runs the whole
// Sigstore stack: Fulcio, CT log, Rekor v2, timestamp authority.)
const http = ['--allow-http-registry', '--allow-insecure-registry'];
let dir: string;
let signingConfig: string;

const cosign = (args: string[]) => runTool('cosign', args);
const sign = (key: string, ref: string, extra: string[] = []) => cosign(['sign', '--key', key, ...http, '--signing-config', signingConfig, '-y', ...extra, ref]);
const signLegacy = (key: string, ref: string) =>
  cosign(['sign', '--key', key, ...http, '--use-signing-config=false', '--tlog-upload=false', '--new-bundle-format=false', '-y', ref]);
const attest = (key: string, ref: string, predicate: unknown, options: { type?: string; legacy?: boolean } = {}) => {
  const file = join(dir, `predicate-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(file, JSON.stringify(predicate));
  const where = options.legacy
    ? ['--use-signing-config=false', '--tlog-upload=false', '--new-bundle-format=false']
    : ['--signing-config', signingConfig];
  return cosign(['attest', '--key', key, '--type', options.type ?? 'slsaprovenance1', '--predicate', file, ...http, ...where, '-y', ref]);
};
const verify = (pub: string, ref: string, extra: string[] = []) => cosign(['verify', '--key', pub, ...http, '--insecure-ignore-tlog=true', ...extra, ref]);
const verifyAttestation = (pub: string, ref: string, type: string) =>
  cosign(['verify-attestation', '--key', pub, '--type', type, ...http, '--insecure-ignore-tlog=true', ref]);

interface KeyPair { key: string; pub: string }
async function keyPair(name: string): Promise<KeyPair> {
  const prefix = join(dir, name);
  await cosign(['generate-key-pair', '--output-key-prefix', prefix]);
  return { key: `${prefix}.key`, pub: `${prefix}.pub` };
}

function secrets(pairs: Record<string, KeyPair>): TrustOptions['readSecret'] {
  return async (name, key) => {
    const pair = pairs[name];
    if (!pair) throw new Error(`no Secret ${name}`);
    if (key === 'cosign.pub') return readFileSync(pair.pub);
    if (key === 'cosign.key') return readFileSync(pair.key);
    if (key === 'cosign.password') return Buffer.from(PASSWORD);
    throw new Error(`Secret ${name} has no key ${key}`);
  };
}

const slsa = (builderId: string, repo = 'https://github.com/example/app') => ({
  buildDefinition: {
    buildType: 'https://example.com/build/v1',
    externalParameters: { source: `git+${repo}@refs/heads/main` },
    resolvedDependencies: [{ uri: `git+${repo}@refs/heads/main`, digest: { gitCommit: 'a'.repeat(40) } }],
  },
  runDetails: { builder: { id: builderId }, metadata: { invocationId: '1' } },
});

function parseVerifyOutput(stdout: string): unknown[] {
  return stdout.trim().split('\n').filter((l) => l.startsWith('{') || l.startsWith('[')).flatMap((l) => {
    const doc = JSON.parse(l) as unknown;
    return Array.isArray(doc) ? doc : [doc];
  });
}

describe('trust', () => {
  let staging: TestRegistry;
  let prods: TestRegistry[];
  let stagingKey: KeyPair;
  let otherKey: KeyPair;
  let promoterKey: KeyPair;
  let readSecret: TrustOptions['readSecret'];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'hoist-trust-'));
    signingConfig = join(dir, 'signing-config.json');
    [staging, ...prods] = await Promise.all([startRegistry(), startRegistry(), startRegistry()]);
    await cosign(['signing-config', 'create', '--out', signingConfig]);
    [stagingKey, otherKey, promoterKey] = await Promise.all([keyPair('staging'), keyPair('other'), keyPair('promoter')]);
    readSecret = secrets({ staging: stagingKey, other: otherKey, promoter: promoterKey });
  });
  after(async () => {
    await Promise.all([staging, ...prods].map((r) => r.stop()));
    rmSync(dir, { recursive: true, force: true });
  });

  const edgesFor = (images: { name: string; image: BuiltImage; tags: string[] }[]): Edge[] =>
    prods.flatMap((prod) => images.map(({ name, image, tags }) => ({
      src: { host: staging.host, name }, dst: { host: prod.host, name: `prod/${name}` }, digest: image.digest, tags,
    })));

  const options = (trust: Omit<TrustOptions, 'readSecret'>, mode: PipelineOptions['mode'] = 'Promote'): PipelineOptions => ({
    mode, concurrency: 4, planConcurrency: 8, trust: { insecureIgnoreTlog: true, ...trust, readSecret: readSecret! },
  });

  const run = async (edges: Edge[], opts: PipelineOptions, phases = defaultPhases) => {
    const client = new RegistryClient();
    try {
      return await runPipeline(edges, client, opts, phases);
    } finally {
      await client.close();
    }
  };

  test('Enforce: signed images (v3 bundle, legacy .sig, index) promote, are signed and attested; unsigned, wrongly signed and tampered ones are refused', async () => {
    const images = {
      bundled: buildImage(), legacy: buildImage(), multi: buildIndex(),
      unsigned: buildImage(), wrong: buildImage(), tampered: buildImage(),
    };
    for (const [name, image] of Object.entries(images)) await pushImage(staging, name, image);
    const ref = (name: keyof typeof images) => `${staging.host}/${name}@${images[name].digest}`;
    await sign(stagingKey.key, ref('bundled'));
    await signLegacy(stagingKey.key, ref('legacy'));
    await sign(stagingKey.key, ref('multi'));
    await sign(otherKey.key, ref('wrong'));
    // Tampered: a valid staging signature whose statement is rewritten to name this image.
    await sign(stagingKey.key, ref('tampered'));
    await tamperBundle(staging, 'tampered', images.tampered.digest);

    const edges = edgesFor(Object.entries(images).map(([name, image]) => ({ name, image, tags: ['v1'] })));
    const trust = {
      verification: { signatures: { mode: 'Enforce' as const, keys: [{ secretRef: { name: 'staging' } }] } },
      signing: { key: { secretRef: { name: 'promoter' } } },
      source: { kind: 'PromotionManifest', namespace: 'releases', name: 'app', generation: 3, revision: 'main@sha1:abc123' },
    };

    const plan = await run(edges, options(trust, 'Plan'));
    assert.equal(plan.summary.unverified, 6, 'a dry run reports the refused edges');

    const report = await run(edges, options(trust));
    assert.equal(report.outcome, 'Refused', report.message);
    assert.equal(report.summary.promoted, 6);
    assert.equal(report.summary.unverified, 6);
    const refused = report.edges.filter((e) => e.state === 'unverified');
    assert.deepEqual([...new Set(refused.map((e) => e.edge.src.name))].sort(), ['tampered', 'unsigned', 'wrong']);
    for (const edge of refused) assert.equal(edge.reason, 'SignatureNotVerified');
    assert.match(refused.find((e) => e.edge.src.name === 'unsigned')!.detail!, /no signatures/);
    assert.match(refused.find((e) => e.edge.src.name === 'wrong')!.detail!, /none of the accepted keys/);
    assert.equal(report.phases.find((p) => p.name === 'Validate')!.result, 'Succeeded');
    assert.match(report.phases.find((p) => p.name === 'Validate')!.message, /3 of 6 staging digests verified, 3 refused/);

    for (const prod of prods) {
      for (const name of ['bundled', 'legacy', 'multi'] as const) {
        const prodRef = `${prod.host}/prod/${name}@${images[name].digest}`;
        await verify(promoterKey.pub, prodRef);
        // Staging's signature travelled with the image. Once a digest has bundles, cosign v3
        // reads only those; a legacy `.sig` is read with --new-bundle-format=false.
        await verify(stagingKey.pub, prodRef, name === 'legacy' ? ['--new-bundle-format=false'] : []);
        const out = await verifyAttestation(promoterKey.pub, prodRef, PROMOTION_PREDICATE);
        const [envelope] = parseVerifyOutput(out) as { payload: string }[];
        const statement = JSON.parse(Buffer.from(envelope!.payload, 'base64').toString('utf8')) as {
          predicateType: string; predicate: { source: { ref: string }; destinations: { ref: string; tags: string[] }[]; promoter: { version: string }; manifest: { revision: string } };
        };
        assert.equal(statement.predicateType, PROMOTION_PREDICATE);
        assert.equal(statement.predicate.source.ref, ref(name));
        assert.deepEqual(statement.predicate.destinations.map((d) => d.ref).sort(), prods.map((p) => `${p.host}/prod/${name}@${images[name].digest}`).sort());
        assert.deepEqual(statement.predicate.destinations[0]!.tags, ['v1']);
        assert.equal(statement.predicate.manifest.revision, 'main@sha1:abc123');
      }
      // Each image of the index is signed too.
      await verify(promoterKey.pub, `${prod.host}/prod/multi@${images.multi.children[1]!.digest}`);
      await assert.rejects(verify(promoterKey.pub, `${prod.host}/prod/unsigned@${images.unsigned.digest}`), 'refused images were not promoted');
    }
    assert.equal(report.attestations.length, 6);
    for (const a of report.attestations) assert.match(a.ref, /^127\.0\.0\.1:\d+\/prod\/\w+@sha256:[0-9a-f]{64}$/);

    const rerun = await run(edges, options(trust));
    assert.match(rerun.phases.find((p) => p.name === 'Sign')!.message, /^0 digests signed/);
    assert.match(rerun.phases.find((p) => p.name === 'Attest')!.message, /^0 promotion attestations written, 6 already there/);
  });

  test('Warn: failures are recorded and the images still promote', async () => {
    const good = buildImage();
    const unsigned = buildImage();
    await pushImage(staging, 'warn-good', good);
    await pushImage(staging, 'warn-unsigned', unsigned);
    await sign(stagingKey.key, `${staging.host}/warn-good@${good.digest}`);
    const edges = edgesFor([{ name: 'warn-good', image: good, tags: ['v1'] }, { name: 'warn-unsigned', image: unsigned, tags: ['v1'] }]);
    const report = await run(edges, options({ verification: { signatures: { mode: 'Warn', keys: [{ secretRef: { name: 'staging' } }] } } }));
    assert.equal(report.outcome, 'Succeeded', report.message);
    assert.equal(report.summary.promoted, 4);
    assert.equal(report.summary.unverified, 0);
    const warned = report.edges.filter((e) => e.warnings?.length);
    assert.deepEqual([...new Set(warned.map((e) => e.edge.src.name))], ['warn-unsigned']);
    assert.match(report.phases.find((p) => p.name === 'Validate')!.message, /1 not verified \(Warn: promoted anyway\)/);
    assert.equal(report.phases.find((p) => p.name === 'Sign')!.result, 'Skipped');
  });

  test('Provenance: cosign attest --type slsaprovenance1 passes; a wrong builder id is refused', async () => {
    const built = buildImage();
    const wrongBuilder = buildImage();
    const none = buildImage();
    const legacy = buildImage();
    await pushImage(staging, 'prov-legacy', legacy);
    await attest(stagingKey.key, `${staging.host}/prov-legacy@${legacy.digest}`, slsa('https://builder.example.com/trusted'), { legacy: true });
    await pushImage(staging, 'prov-good', built);
    await pushImage(staging, 'prov-wrong', wrongBuilder);
    await pushImage(staging, 'prov-none', none);
    await attest(stagingKey.key, `${staging.host}/prov-good@${built.digest}`, slsa('https://builder.example.com/trusted@v1'));
    await attest(stagingKey.key, `${staging.host}/prov-wrong@${wrongBuilder.digest}`, slsa('https://evil.example.com/builder'));
    const edges = edgesFor([
      { name: 'prov-good', image: built, tags: [] }, { name: 'prov-wrong', image: wrongBuilder, tags: [] }, { name: 'prov-none', image: none, tags: [] },
      { name: 'prov-legacy', image: legacy, tags: [] },
    ]);
    const report = await run(edges, options({
      verification: {
        signatures: { mode: 'Off', keys: [{ secretRef: { name: 'staging' } }] },
        provenance: { mode: 'Enforce', builderIds: ['https://builder.example.com/trusted'], sourceRepositories: ['https://github.com/example/app'] },
      },
    }));
    assert.equal(report.summary.promoted, 4, 'v3 bundle and legacy .att provenance both pass');
    const refused = report.edges.filter((e) => e.state === 'unverified');
    assert.deepEqual([...new Set(refused.map((e) => e.edge.src.name))].sort(), ['prov-none', 'prov-wrong']);
    assert.equal(refused.find((e) => e.edge.src.name === 'prov-wrong')!.reason, 'ProvenanceNotVerified');
    assert.match(refused.find((e) => e.edge.src.name === 'prov-wrong')!.detail!, /builder https:\/\/evil\.example\.com\/builder is not one of/);
    assert.equal(report.phases.find((p) => p.name === 'Validate')!.result, 'Skipped');
    // The staging provenance travelled to production.
    await verifyAttestation(stagingKey.pub, `${prods[0]!.host}/prod/prov-good@${built.digest}`, 'slsaprovenance1');
  });

  test('a signing key whose password does not open it fails the run with WrongKeyPassword', async () => {
    const image = buildImage();
    await pushImage(staging, 'badpass', image);
    const wrongPassword: TrustOptions['readSecret'] = async (name, key) => (key === 'cosign.password' ? Buffer.from('wrong') : readSecret!(name, key));
    const client = new RegistryClient();
    const report = await runPipeline(edgesFor([{ name: 'badpass', image, tags: [] }]), client, {
      mode: 'Promote', concurrency: 2, planConcurrency: 4, trust: { signing: { key: { secretRef: { name: 'promoter' } } }, readSecret: wrongPassword },
    });
    await client.close();
    assert.equal(report.outcome, 'Failed');
    assert.equal(report.reason, 'WrongKeyPassword');
    assert.match(report.message, /password does not decrypt the key/);
    assert.equal(report.phases.at(-1)!.name, 'Setup', 'the key is loaded before any registry is read');
    assert.equal(report.summary.promoted, 0);
  });

  test('a rerun after a crash between Promote and Sign adds the missing signatures and attestations, none duplicated', async () => {
    const image = buildImage();
    const index = buildIndex();
    await pushImage(staging, 'crash-single', image);
    await pushImage(staging, 'crash-multi', index);
    const edges = edgesFor([{ name: 'crash-single', image, tags: ['v1'] }, { name: 'crash-multi', image: index, tags: ['v1'] }]);
    const trust = { signing: { key: { secretRef: { name: 'promoter' } } }, legacySignatureTag: true };
    const crashed = await run(edges, options(trust), defaultPhases.filter((p) => p.name !== 'Sign' && p.name !== 'Attest'));
    assert.equal(crashed.summary.promoted, 4);
    await assert.rejects(verify(promoterKey.pub, `${prods[0]!.host}/prod/crash-single@${image.digest}`));

    const repaired = await run(edges, options(trust));
    assert.equal(repaired.summary.alreadyPresent, 4);
    assert.match(repaired.phases.find((p) => p.name === 'Sign')!.message, /^5 digests signed/, 'an index with 3 images and one image');
    assert.match(repaired.phases.find((p) => p.name === 'Attest')!.message, /^4 promotion attestations written/);
    const counts = async () => Promise.all(prods.flatMap((prod) => [image.digest, index.digest].map(async (digest) => {
      const name = digest === image.digest ? 'crash-single' : 'crash-multi';
      const res = await fetch(`${prod.url}/v2/prod/${name}/manifests/${digest.replace(':', '-')}`, { headers: { accept: 'application/vnd.oci.image.index.v1+json' } });
      const referrers = ((await res.json()) as { manifests: unknown[] }).manifests.length;
      const sig = await fetch(`${prod.url}/v2/prod/${name}/manifests/${digest.replace(':', '-')}.sig`, { headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } });
      return `${referrers} ${((await sig.json()) as { layers: unknown[] }).layers.length}`;
    })));
    assert.deepEqual(await counts(), ['2 1', '2 1', '2 1', '2 1'], 'one signature bundle and one attestation referrer, one legacy signature');
    for (const prod of prods) {
      await verify(promoterKey.pub, `${prod.host}/prod/crash-single@${image.digest}`);
      await verifyAttestation(promoterKey.pub, `${prod.host}/prod/crash-multi@${index.digest}`, PROMOTION_PREDICATE);
    }

    const again = await run(edges, options(trust));
    assert.match(again.phases.find((p) => p.name === 'Sign')!.message, /^0 digests signed/);
    assert.deepEqual(await counts(), ['2 1', '2 1', '2 1', '2 1']);
  });
});

/** Rewrites the statement inside the image's cosign bundle (keeping the signature) and re-attaches it. */
async function tamperBundle(registry: TestRegistry, repo: string, digest: string): Promise<void> {
  const accept = { accept: 'application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json' };
  const base = `${registry.url}/v2/${repo}`;
  const index = (await (await fetch(`${base}/manifests/${digest.replace(':', '-')}`, { headers: accept })).json()) as { manifests: { digest: string }[] };
  const manifest = (await (await fetch(`${base}/manifests/${index.manifests[0]!.digest}`, { headers: accept })).json()) as { layers: { digest: string; size: number }[] } & Record<string, unknown>;
  const bundle = (await (await fetch(`${base}/blobs/${manifest.layers[0]!.digest}`)).json()) as { dsseEnvelope: { payload: string } };
  const statement = JSON.parse(Buffer.from(bundle.dsseEnvelope.payload, 'base64').toString('utf8')) as { predicate: Record<string, unknown> };
  statement.predicate = { tampered: true };
  bundle.dsseEnvelope.payload = Buffer.from(JSON.stringify(statement)).toString('base64');
  const blob = Buffer.from(JSON.stringify(bundle));
  const blobDigest = `sha256:${(await import('node:crypto')).createHash('sha256').update(blob).digest('hex')}`;
  const start = await fetch(`${base}/blobs/uploads/`, { method: 'POST' });
  const location = new URL(start.headers.get('location')!, registry.url);
  location.searchParams.set('digest', blobDigest);
  await fetch(location, { method: 'PUT', headers: { 'content-type': 'application/octet-stream' }, body: blob });
  manifest.layers = [{ ...manifest.layers[0]!, digest: blobDigest, size: blob.length }];
  const bytes = Buffer.from(JSON.stringify(manifest));
  const manifestDigest = `sha256:${(await import('node:crypto')).createHash('sha256').update(bytes).digest('hex')}`;
  await fetch(`${base}/manifests/${manifestDigest}`, { method: 'PUT', headers: { 'content-type': 'application/vnd.oci.image.manifest.v1+json' }, body: bytes });
  const newIndex = { schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: manifestDigest, size: bytes.length, artifactType: 'application/vnd.dev.sigstore.bundle.v0.3+json' }] };
  await fetch(`${base}/manifests/${digest.replace(':', '-')}`, { method: 'PUT', headers: { 'content-type': 'application/vnd.oci.image.index.v1+json' }, body: JSON.stringify(newIndex) });
}
