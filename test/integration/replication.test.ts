// Signature replication against real registries (docker-registry, which serves no referrers API,
// so bundles live in the `sha256-<hex>` tag index) and the real cosign: images signed at the
// primary by cosign with a key, through the test bed's Rekor v2 and timestamp authority (a
// bundle, an attestation) and in the legacy `.sig` format; `hoist replicate` copies what the
// mirrors lack, byte for byte, and cosign then verifies every mirror with the primary's key.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { runHoist } from '../support/cli.ts';
import { buildImage, pushImage, type BuiltImage } from '../support/images.ts';
import { startRegistry, type TestRegistry } from '../support/registry.ts';
import { startRekorV2, startTimestampAuthority, type TestRekor, type TestTimestampAuthority } from '../support/sigstore.ts';
import { runTool } from '../support/testbed.ts';

const PASSWORD = 'replication-test-password';
const http = ['--allow-http-registry', '--allow-insecure-registry'];
const accept = 'application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.v2+json';
const hex = (digest: string) => digest.slice(7);

interface Report {
  outcome: string;
  reason: string;
  message: string;
  counts: Record<string, number>;
  requests: number;
  changes: { repository: string; digest: string; artifacts: string[] }[];
}

/** The digest a tag points at, straight from the registry, or undefined. */
async function tagDigest(registry: TestRegistry, repo: string, tag: string): Promise<string | undefined> {
  const res = await fetch(`${registry.url}/v2/${repo}/manifests/${tag}`, { method: 'HEAD', headers: { accept } });
  return res.status === 200 ? res.headers.get('docker-content-digest') ?? undefined : undefined;
}

async function tags(registry: TestRegistry, repo: string): Promise<string[]> {
  const res = await fetch(`${registry.url}/v2/${repo}/tags/list`);
  return ((await res.json()) as { tags?: string[] }).tags ?? [];
}

describe('hoist replicate on real registries, verified by cosign', () => {
  let primary: TestRegistry;
  let mirrors: TestRegistry[];
  let rekor: TestRekor;
  let tsa: TestTimestampAuthority;
  let dir: string;
  let rootPath: string;
  let signingConfig: string;
  let manifestFile: string;
  const keys = { release: { key: '', pub: '' }, second: { key: '', pub: '' } };
  const started: { stop(): Promise<void> }[] = [];
  const track = (starting: Promise<{ stop(): Promise<void> }>) => starting.then((server) => { started.push(server); return server; });
  const images: Record<'bundled' | 'legacy' | 'unsigned', BuiltImage> = { bundled: buildImage(), legacy: buildImage(), unsigned: buildImage() };

  const replicate = async (args: string[]): Promise<Report> => {
    const run = await runHoist(['replicate', '-f', manifestFile, '--primary', `${primary.host}/prod`, '-o', 'json', '--quiet', ...args]);
    assert.ok(run.code === 0 || run.code === 3, `exit ${run.code}: ${run.stderr}\n${run.stdout}`);
    return JSON.parse(run.stdout) as Report;
  };

  before(async () => {
    process.env.COSIGN_PASSWORD = PASSWORD;
    dir = mkdtempSync(join(tmpdir(), 'hoist-replication-'));
    // Each server is stopped after, even when another failed to start.
    [primary, rekor, tsa, ...mirrors] = await Promise.all([startRegistry(), startRekorV2(), startTimestampAuthority(), startRegistry(), startRegistry()].map(track)) as unknown as [TestRegistry, TestRekor, TestTimestampAuthority, ...TestRegistry[]];
    for (const name of ['release', 'second'] as const) {
      await runTool('cosign', ['generate-key-pair', '--output-key-prefix', join(dir, name)]);
      keys[name] = { key: join(dir, `${name}.key`), pub: join(dir, `${name}.pub`) };
    }
    rootPath = join(dir, 'trusted_root.json');
    writeFileSync(rootPath, JSON.stringify({
      mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1',
      certificateAuthorities: [], ctlogs: [], tlogs: [rekor.trustedRootEntry], timestampAuthorities: [tsa.trustedRootEntry],
    }));
    signingConfig = join(dir, 'signing-config.json');
    const service = (url: string, version: number) => `url=${url},api-version=${version},start-time=2024-01-01T00:00:00Z,operator=hoist-test`;
    await runTool('cosign', ['signing-config', 'create', '--rekor', service(rekor.url, 2), '--rekor-config', 'ANY', '--tsa', service(tsa.timestampURL, 1), '--tsa-config', 'ANY', '--out', signingConfig]);

    // Every registry holds the images (as promotion left them); only the primary is signed.
    const tagged = [[images.bundled, 'v1'], [images.legacy, 'v2'], [images.unsigned, 'v3']] as const;
    for (const registry of [primary, ...mirrors]) for (const [image, tag] of tagged) await pushImage(registry, 'prod/app', image, [tag]);
    const at = (image: BuiltImage) => `${primary.host}/prod/app@${image.digest}`;
    await runTool('cosign', ['sign', '--key', keys.release.key, '--signing-config', signingConfig, '--trusted-root', rootPath, ...http, '-y', at(images.bundled)]);
    const predicate = join(dir, 'predicate.json');
    writeFileSync(predicate, JSON.stringify({ built: 'in the test' }));
    await runTool('cosign', ['attest', '--key', keys.release.key, '--signing-config', signingConfig, '--trusted-root', rootPath, '--type', 'https://hoist.dev/test/v1', '--predicate', predicate, ...http, '-y', at(images.bundled)]);
    // The legacy format: a `.sig` tag, no log entry (what a cosign before v2.4 or kpromo writes).
    await runTool('cosign', ['sign', '--key', keys.release.key, '--use-signing-config=false', '--tlog-upload=false', '--new-bundle-format=false', ...http, '-y', at(images.legacy)]);

    manifestFile = join(dir, 'manifests.yaml');
    writeFileSync(manifestFile, [
      'apiVersion: hoist.dev/v1alpha1', 'kind: PromotionManifest', 'metadata:', '  name: app', 'spec:', '  registries:',
      `    - name: ${primary.host}/staging`, '      src: true', `    - name: ${primary.host}/prod`,
      ...mirrors.map((m) => `    - name: ${m.host}/prod`),
      '  images:', '    - name: app', '      dmap:',
      ...tagged.map(([image, tag]) => `        "${image.digest}": ["${tag}"]`),
      '',
    ].join('\n'));
  });
  after(async () => {
    await Promise.all(started.map((s) => s.stop()));
    rmSync(dir, { recursive: true, force: true });
  });

  test('what the primary holds reaches every mirror byte for byte, and cosign verifies each mirror', async () => {
    const primaryTags = await tags(primary, 'prod/app');
    const artifactTags = [`sha256-${hex(images.bundled.digest)}`, `sha256-${hex(images.legacy.digest)}.sig`];
    for (const tag of artifactTags) assert.ok(primaryTags.includes(tag), `cosign wrote ${tag} at the primary: ${primaryTags.join(' ')}`);
    assert.ok(!primaryTags.some((t) => t.includes(hex(images.unsigned.digest))));

    const plan = await replicate([]);
    assert.equal(plan.reason, 'ReplicationPlanned', plan.message);
    assert.deepEqual([plan.counts.signed, plan.counts.unsigned, plan.counts.repaired], [2, 1, 4]);
    for (const mirror of mirrors) assert.deepEqual((await tags(mirror, 'prod/app')).sort(), ['v1', 'v2', 'v3'], 'a dry run writes nothing');

    const done = await replicate(['--confirm']);
    assert.equal(done.reason, 'Replicated', done.message);
    assert.deepEqual([done.counts.repaired, done.counts.inSync, done.counts.failed], [4, 0, 0]);
    for (const mirror of mirrors) {
      for (const tag of artifactTags) {
        assert.equal(await tagDigest(mirror, 'prod/app', tag), await tagDigest(primary, 'prod/app', tag), `${mirror.host}: ${tag} is the primary's manifest`);
      }
      assert.ok(!(await tags(mirror, 'prod/app')).some((t) => t.includes(hex(images.unsigned.digest))));
      const ref = (image: BuiltImage) => `${mirror.host}/prod/app@${image.digest}`;
      // The bundle, as anyone verifies it: the key and the trusted root, no --insecure-* flag.
      await runTool('cosign', ['verify', '--key', keys.release.pub, '--trusted-root', rootPath, ...http, ref(images.bundled)]);
      await runTool('cosign', ['verify-attestation', '--key', keys.release.pub, '--trusted-root', rootPath, '--type', 'https://hoist.dev/test/v1', ...http, ref(images.bundled)]);
      // The legacy .sig, as an admission controller reading `.sig` tags does (it has no log entry).
      await runTool('cosign', ['verify', '--key', keys.release.pub, '--insecure-ignore-tlog', '--new-bundle-format=false', ...http, ref(images.legacy)]);
      await assert.rejects(runTool('cosign', ['verify', '--key', keys.second.pub, '--insecure-ignore-tlog', '--new-bundle-format=false', ...http, ref(images.legacy)]), 'another key does not verify');
    }

    // The steady state: one listing per repository and one referrers-API check of the primary, nothing else.
    const again = await replicate(['--confirm']);
    assert.deepEqual([again.counts.inSync, again.counts.repaired], [4, 0], again.message);
    assert.equal(again.requests, 1 + 1 + mirrors.length, `requests: ${again.requests}`);
  });

  test('--check digest brings a .sig that grew at the primary to the mirrors; a mirror with a signature of its own is left alone', async () => {
    const sigTag = `sha256-${hex(images.legacy.digest)}.sig`;
    const before = await tagDigest(primary, 'prod/app', sigTag);
    // A second signer appends to the primary's .sig; the first mirror also gets a signature nobody else has.
    await runTool('cosign', ['sign', '--key', keys.second.key, '--use-signing-config=false', '--tlog-upload=false', '--new-bundle-format=false', ...http, '-y', `${primary.host}/prod/app@${images.legacy.digest}`]);
    const grown = await tagDigest(primary, 'prod/app', sigTag);
    assert.notEqual(grown, before);
    const [own, lagging] = mirrors as [TestRegistry, TestRegistry];
    const ownKey = join(dir, 'own');
    await runTool('cosign', ['generate-key-pair', '--output-key-prefix', ownKey]);
    await runTool('cosign', ['sign', '--key', `${ownKey}.key`, '--use-signing-config=false', '--tlog-upload=false', '--new-bundle-format=false', ...http, '-y', `${own.host}/prod/app@${images.legacy.digest}`]);
    const ownDigest = await tagDigest(own, 'prod/app', sigTag);

    const presence = await replicate(['--confirm']);
    assert.equal(presence.counts.repaired, 0, 'Presence counts a listed tag as replicated');
    const digest = await replicate(['--confirm', '--check', 'digest']);
    assert.equal(digest.reason, 'SignatureDiverged', digest.message);
    assert.deepEqual([digest.counts.repaired, digest.counts.diverged], [1, 1]);
    assert.equal(await tagDigest(lagging, 'prod/app', sigTag), grown, 'the lagging mirror now holds the primary\'s .sig');
    assert.equal(await tagDigest(own, 'prod/app', sigTag), ownDigest, 'never overwritten: its own signature would be lost');
    await runTool('cosign', ['verify', '--key', keys.second.pub, '--insecure-ignore-tlog', '--new-bundle-format=false', ...http, `${lagging.host}/prod/app@${images.legacy.digest}`]);
    await runTool('cosign', ['verify', '--key', `${ownKey}.pub`, '--insecure-ignore-tlog', '--new-bundle-format=false', ...http, `${own.host}/prod/app@${images.legacy.digest}`]);
  });
});
