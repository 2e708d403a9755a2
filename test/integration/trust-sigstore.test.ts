// Signatures others can verify later, without any --insecure-* flag: Hoist signs with a cosign
// key through the real Sigstore services of the test bed (a Rekor v2 log on files, sigstore's
// timestamp authority), in both formats, and the real cosign verifies the bundle with only the
// key and the trusted root, as it verifies anyone's; Hoist's own verification (and `hoist
// verify`) requires the log entry too. The legacy .sig gets the timestamp (a .sig layer carries
// only a Rekor v1 entry), and the admission check says so.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { runPipeline, type Edge, type TrustOptions } from '../../src/pipeline/index.ts';
import { PROMOTION_PREDICATE } from '../../src/provenance/promotion.ts';
import { RegistryClient } from '../../src/registry/index.ts';
import { checkAdmission } from '../../src/signing/admission.ts';
import { checkSignatures } from '../../src/signing/image.ts';
import { loadPublicKey } from '../../src/signing/keys.ts';
import { parseTrustedRoot } from '../../src/signing/trusted-root.ts';
import { runHoist } from '../support/cli.ts';
import { buildImage, pushImage } from '../support/images.ts';
import { startRegistry, type TestRegistry } from '../support/registry.ts';
import { startRekorV2, startTimestampAuthority, type TestRekor, type TestTimestampAuthority } from '../support/sigstore.ts';
import { runTool } from '../support/testbed.ts';

const PASSWORD = 'sigstore-test-password';
const http = ['--allow-http-registry', '--allow-insecure-registry'];

describe('signatures with a Rekor v2 entry and an RFC 3161 timestamp', () => {
  let staging: TestRegistry;
  let prod: TestRegistry;
  let rekor: TestRekor;
  let tsa: TestTimestampAuthority;
  let dir: string;
  let rootPath: string;
  let root: object;
  const key = { key: '', pub: '' };

  before(async () => {
    process.env.COSIGN_PASSWORD = PASSWORD;
    dir = mkdtempSync(join(tmpdir(), 'hoist-sigstore-'));
    [staging, prod, rekor, tsa] = await Promise.all([startRegistry(), startRegistry(), startRekorV2(), startTimestampAuthority()]);
    await runTool('cosign', ['generate-key-pair', '--output-key-prefix', join(dir, 'release')]);
    Object.assign(key, { key: join(dir, 'release.key'), pub: join(dir, 'release.pub') });
    root = {
      mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1',
      certificateAuthorities: [], ctlogs: [], tlogs: [rekor.trustedRootEntry], timestampAuthorities: [tsa.trustedRootEntry],
    };
    rootPath = join(dir, 'trusted_root.json');
    writeFileSync(rootPath, JSON.stringify(root));
  });
  after(async () => {
    await Promise.all([staging?.stop(), prod?.stop(), rekor?.stop(), tsa?.stop()]);
    rmSync(dir, { recursive: true, force: true });
  });

  test('Hoist signs and attests with a key through Rekor v2 and the TSA; cosign verifies with the key and the trusted root only', async () => {
    const image = buildImage();
    await pushImage(staging, 'app', image);
    const edges: Edge[] = [{ src: { host: staging.host, name: 'app' }, dst: { host: prod.host, name: 'prod/app' }, digest: image.digest, tags: ['v1'] }];
    const trust: TrustOptions = {
      signing: { key: { secretRef: { name: 'release' } } },
      signingServices: { rekorURL: rekor.url, rekorVersion: 2, timestampAuthorityURL: tsa.timestampURL },
      readSecret: async (_name, k) => (k === 'cosign.key' ? readFileSync(key.key) : Buffer.from(PASSWORD)),
    };
    const client = new RegistryClient();
    const report = await runPipeline(edges, client, { mode: 'Promote', concurrency: 2, planConcurrency: 4, trust });
    assert.equal(report.summary.promoted, 1, report.message);
    assert.match(report.phases.find((p) => p.name === 'Sign')!.message, /^1 digests signed by key release/);

    const ref = `${prod.host}/prod/app@${image.digest}`;
    // The real cosign, no --insecure-ignore-tlog: it needs the Rekor entry in the bundle.
    await runTool('cosign', ['verify', '--key', key.pub, '--trusted-root', rootPath, ...http, ref]);
    await runTool('cosign', ['verify-attestation', '--key', key.pub, '--trusted-root', rootPath, '--type', PROMOTION_PREDICATE, ...http, ref]);

    // Hoist, strictly: the bundle with its Rekor v2 entry and timestamp verifies; the .sig has only the timestamp.
    const trustedRoot = parseTrustedRoot(root, rootPath);
    const policy = { keys: [{ name: 'release.pub', key: loadPublicKey(readFileSync(key.pub)) }], identities: [], certificateAuthorities: [], trustedRoot };
    const repo = { host: prod.host, name: 'prod/app' };
    const check = await checkSignatures(client, repo, image.digest, policy);
    const bundle = check.verified.find((v) => v.found.kind === 'bundle');
    assert.ok(bundle, check.problems.join('\n'));
    assert.deepEqual(bundle.verified.tlogEntries.map((e) => e.kind), ['hashedrekord/0.0.2']);
    assert.deepEqual(bundle.verified.timestamps.map((t) => t.kind), ['timestamp-authority']);
    assert.match(check.problems.join('\n'), /\.sig layer .*TransparencyLogEntryMissing/);
    const relaxed = await checkSignatures(client, repo, image.digest, { ...policy, ignoreTlog: true });
    const legacy = relaxed.verified.find((v) => v.found.kind === 'simpleSigning');
    assert.ok(legacy, relaxed.problems.join('\n'));
    assert.deepEqual(legacy.verified.timestamps.map((t) => t.kind), ['timestamp-authority']);
    // cosign reads that .sig too when told to ignore the log and use the timestamp.
    await runTool('cosign', ['verify', '--key', key.pub, '--trusted-root', rootPath, '--insecure-ignore-tlog', '--use-signed-timestamps', '--new-bundle-format=false', ...http, ref]);

    // policy-controller's defaults read the .sig and need a Rekor entry there: not admissible, and why.
    const admission = await checkAdmission(client, repo, image.digest, policy);
    assert.deepEqual([admission.admissible, admission.reason], [false, 'TransparencyLogEntryMissing']);
    await client.close();

    const cli = await runHoist(['verify', ref, '--key', key.pub, '--trusted-root', rootPath, '--attestation-type', PROMOTION_PREDICATE, '-o', 'json']);
    assert.equal(cli.code, 0, cli.stdout + cli.stderr);
    const out = JSON.parse(cli.stdout) as { signatures: { format: string }[]; attestations: { predicateType: string; tlogEntries: unknown[] }[] };
    assert.deepEqual(out.signatures.map((s) => s.format), ['bundle']);
    assert.ok(out.attestations.some((a) => a.predicateType === PROMOTION_PREDICATE && a.tlogEntries.length === 1));
  });

  test('a signature of ours without the log entry and timestamp our signer now adds is made again, then recognised', async () => {
    const image = buildImage();
    await pushImage(staging, 'relog', image);
    const edges: Edge[] = [{ src: { host: staging.host, name: 'relog' }, dst: { host: prod.host, name: 'prod/relog' }, digest: image.digest, tags: ['v1'] }];
    const readSecret: TrustOptions['readSecret'] = async (_name, k) => (k === 'cosign.key' ? readFileSync(key.key) : Buffer.from(PASSWORD));
    const run = async (trust: TrustOptions) => {
      const client = new RegistryClient();
      try {
        const report = await runPipeline(edges, client, { mode: 'Promote', concurrency: 2, planConcurrency: 4, trust });
        assert.equal(report.outcome, 'Succeeded', report.message);
        return (name: string) => report.phases.find((p) => p.name === name)!.message;
      } finally {
        await client.close();
      }
    };
    const signing = { key: { secretRef: { name: 'release' } } };
    // Signed before the services were configured: the signature alone, no Rekor entry, no timestamp.
    const bare = await run({ signing, readSecret });
    assert.match(bare('Sign'), /^1 digests signed by key release/);
    const ref = `${prod.host}/prod/relog@${image.digest}`;
    await assert.rejects(runTool('cosign', ['verify', '--key', key.pub, '--trusted-root', rootPath, ...http, ref]), 'cosign refuses it without --insecure-ignore-tlog');

    // Now with Rekor and the TSA (and the operator's root naming them): not "already signed".
    const proven: TrustOptions = {
      signing, readSecret, keyless: { trustedRoot: root },
      signingServices: { rekorURL: rekor.url, rekorVersion: 2, timestampAuthorityURL: tsa.timestampURL },
    };
    const resign = await run(proven);
    assert.match(resign('Sign'), /^1 digests signed by key release, 0 already signed/);
    assert.match(resign('Attest'), /^1 promotion attestations written/);
    await runTool('cosign', ['verify', '--key', key.pub, '--trusted-root', rootPath, ...http, ref]);
    await runTool('cosign', ['verify-attestation', '--key', key.pub, '--trusted-root', rootPath, '--type', PROMOTION_PREDICATE, ...http, ref]);

    // Once it carries the proofs, it is ours: a rerun signs nothing.
    const again = await run(proven);
    assert.match(again('Sign'), /^0 digests signed by key release, 1 already signed/);
    assert.match(again('Attest'), /^0 promotion attestations written, 1 already there/);
  });

  test('what cosign signs through the same services verifies in Hoist; a root without the log is refused', async () => {
    const image = buildImage();
    await pushImage(staging, 'other', image);
    const ref = `${staging.host}/other@${image.digest}`;
    const signingConfig = join(dir, 'signing-config.json');
    const service = (url: string, version: number) => `url=${url},api-version=${version},start-time=2024-01-01T00:00:00Z,operator=hoist-test`;
    await runTool('cosign', ['signing-config', 'create', '--rekor', service(rekor.url, 2), '--rekor-config', 'ANY', '--tsa', service(tsa.timestampURL, 1), '--tsa-config', 'ANY', '--out', signingConfig]);
    // cosign itself signs through the same services: Hoist verifies what cosign wrote.
    await runTool('cosign', ['sign', '--key', key.key, '--signing-config', signingConfig, '--trusted-root', rootPath, ...http, '-y', ref]);
    const ok = await runHoist(['verify', ref, '--key', key.pub, '--trusted-root', rootPath]);
    assert.equal(ok.code, 0, ok.stdout + ok.stderr);
    const emptyRoot = join(dir, 'no-log-root.json');
    writeFileSync(emptyRoot, JSON.stringify({ ...root, tlogs: [] }));
    const noLog = await runHoist(['verify', ref, '--key', key.pub, '--trusted-root', emptyRoot]);
    assert.equal(noLog.code, 1, noLog.stdout);
    assert.match(noLog.stdout, /TransparencyLogNotVerified: .*names no transparency log/);
  });
});
