// Keyless signing and verification on a private Sigstore instance built like the public-good
// one (test/support/keyless.ts): Fulcio trusting the test kube-apiserver's ServiceAccount issuer,
// a CT log, a Rekor v2 log and a timestamp authority. Staging images signed keyless by cosign
// pass Validate under an identity policy; Hoist signs and attests keyless with an RFC 3161
// timestamp and a Rekor entry, so the real cosign verifies them with nothing but the identity,
// the issuer and the trusted root: no --insecure-ignore-tlog, no --insecure-ignore-sct.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { runPipeline, type Edge, type TrustOptions } from '../../src/pipeline/index.ts';
import { checkAttestations } from '../../src/provenance/attestations.ts';
import { PROMOTION_PREDICATE } from '../../src/provenance/promotion.ts';
import { RegistryClient } from '../../src/registry/index.ts';
import { checkSignatures, ensureSigned } from '../../src/signing/image.ts';
import { keylessSigner } from '../../src/signing/signer.ts';
import { parseTrustedRoot, publicGoodTrustedRoot } from '../../src/signing/trusted-root.ts';
import { startFulcio, type TestFulcio } from '../support/fulcio.ts';
import { startKeylessBed, type KeylessBed } from '../support/keyless.ts';
import { buildImage, pushImage } from '../support/images.ts';
import { startRegistry, type TestRegistry } from '../support/registry.ts';
import { runTool } from '../support/testbed.ts';

const http = ['--allow-http-registry', '--allow-insecure-registry'];

describe('keyless trust', () => {
  let bed: KeylessBed;
  let fulcio: TestFulcio;
  let staging: TestRegistry;
  let prod: TestRegistry;
  let dir: string;
  let issuer: string;
  let tokenPath: string;
  let signingConfig: string;
  const subject = (sa: string) => bed.subject(sa);
  const token = (sa: string) => bed.token(sa);
  const identityFlags = (sa: string) => bed.cosignIdentityFlags(sa);

  before(async () => {
    [bed, staging, prod] = await Promise.all([startKeylessBed(['promoter', 'builder']), startRegistry(), startRegistry()]);
    ({ fulcio, issuer, dir, signingConfig } = bed);
    tokenPath = bed.tokenFile('promoter');
  });
  after(() => Promise.all([bed?.stop(), staging?.stop(), prod?.stop()]));

  test('keyless staging signatures pass an identity policy; Hoist signs and attests keyless; cosign verifies', async () => {
    const signed = buildImage();
    const foreign = buildImage();
    await pushImage(staging, 'app', signed);
    await pushImage(staging, 'foreign', foreign);
    const builderToken = join(dir, 'builder-token');
    writeFileSync(builderToken, token('builder'));
    for (const [name, image, sa] of [['app', signed, 'builder'], ['foreign', foreign, 'promoter']] as const) {
      writeFileSync(builderToken, token(sa));
      await runTool('cosign', ['sign', '--identity-token', builderToken, '--signing-config', signingConfig, '--trusted-root', fulcio.trustedRootPath, ...http, '-y', `${staging.host}/${name}@${image.digest}`]);
    }
    await runTool('cosign', ['verify', ...http, ...identityFlags('builder'), `${staging.host}/app@${signed.digest}`]);

    const edges: Edge[] = [
      { src: { host: staging.host, name: 'app' }, dst: { host: prod.host, name: 'prod/app' }, digest: signed.digest, tags: ['v1'] },
      { src: { host: staging.host, name: 'foreign' }, dst: { host: prod.host, name: 'prod/foreign' }, digest: foreign.digest, tags: ['v1'] },
    ];
    const trust: TrustOptions = {
      verification: { signatures: { mode: 'Enforce', identities: [{ issuer, subjectRegExp: '/serviceaccounts/builder$' }] } },
      signing: { keyless: { audience: 'sigstore' } },
      keyless: { fulcioURL: fulcio.url, tokenPath, trustedRoot: fulcio.trustedRoot, identity: { issuer, subject: subject('promoter') } },
      signingServices: bed.signingServices,
    };
    const client = new RegistryClient();
    const report = await runPipeline(edges, client, { mode: 'Promote', concurrency: 2, planConcurrency: 4, trust });
    await client.close();
    assert.equal(report.summary.promoted, 1, report.message);
    const refused = report.edges.find((e) => e.state === 'unverified');
    assert.equal(refused?.edge.src.name, 'foreign');
    assert.match(refused.detail!, /signed by https:\/\/kubernetes.io\/namespaces\/default\/serviceaccounts\/promoter .* which the policy does not accept/);
    assert.match(report.phases.find((p) => p.name === 'Sign')!.message, /^1 digests signed by https:\/\/kubernetes.io\/namespaces\/default\/serviceaccounts\/promoter/);

    const ref = `${prod.host}/prod/app@${signed.digest}`;
    await runTool('cosign', ['verify', ...http, ...identityFlags('promoter'), ref]);
    await runTool('cosign', ['verify', ...http, ...identityFlags('builder'), ref]);
    const out = await runTool('cosign', ['verify-attestation', '--type', PROMOTION_PREDICATE, ...http, ...identityFlags('promoter'), ref]);
    assert.match(out, /"payloadType":"application\/vnd.in-toto\+json"/);

    // What Hoist wrote: a bundle with a Rekor v2 entry and a TSA timestamp, and a legacy .sig with
    // the timestamp (a .sig layer can carry only a Rekor v1 entry), both verified as a trust decision.
    const prodRepo = { host: prod.host, name: 'prod/app' };
    const trusted = new RegistryClient();
    const ours = await checkSignatures(trusted, prodRepo, signed.digest, {
      keys: [], identities: [{ issuer, subject: subject('promoter') }], certificateAuthorities: [], trustedRoot: parseTrustedRoot(bed.trustedRoot, 'the bed root'),
    });
    const legacyOnly = await checkSignatures(trusted, prodRepo, signed.digest, {
      keys: [], identities: [{ issuer, subject: subject('promoter') }], certificateAuthorities: [], trustedRoot: parseTrustedRoot(bed.trustedRoot, 'the bed root'), ignoreTlog: true,
    });
    await trusted.close();
    const bundle = ours.verified.find((v) => v.found.kind === 'bundle')!;
    assert.ok(bundle, ours.problems.join('\n'));
    assert.deepEqual(bundle.verified.tlogEntries.map((e) => e.kind), ['hashedrekord/0.0.2']);
    assert.deepEqual(bundle.verified.timestamps.map((t) => t.kind), ['timestamp-authority']);
    assert.ok(!ours.verified.some((v) => v.found.kind === 'simpleSigning'), 'the .sig layer has no Rekor entry: refused by default');
    assert.match(ours.problems.join('\n'), /\.sig layer .*TransparencyLogEntryMissing/);
    assert.ok(legacyOnly.verified.some((v) => v.found.kind === 'simpleSigning' && v.verified.timestamps[0]?.kind === 'timestamp-authority'), legacyOnly.problems.join('\n'));
    // cosign reads the .sig too, given the same allowance and its TSA timestamp.
    await runTool('cosign', ['verify', ...http, ...identityFlags('promoter'), '--insecure-ignore-tlog', '--use-signed-timestamps', '--new-bundle-format=false', ref]);

    // The promotion attestation as a legacy .att layer too, its RFC 3161 token over the envelope bytes
    // as cosign's legacy attestations have it: Hoist and cosign both verify it by that timestamp.
    const attClient = new RegistryClient();
    const attestations = await checkAttestations(attClient, prodRepo, signed.digest, [PROMOTION_PREDICATE], {
      keys: [], identities: [{ issuer, subject: subject('promoter') }], certificateAuthorities: [], trustedRoot: parseTrustedRoot(bed.trustedRoot, 'the bed root'), ignoreTlog: true,
    });
    await attClient.close();
    const legacyAtt = attestations.verified.find((a) => a.found.kind === 'envelope');
    assert.ok(legacyAtt, attestations.problems.join('\n'));
    assert.deepEqual(legacyAtt.verified.timestamps.map((t) => t.kind), ['timestamp-authority']);
    await runTool('cosign', ['verify-attestation', '--type', PROMOTION_PREDICATE, ...http, ...identityFlags('promoter'), '--insecure-ignore-tlog', '--use-signed-timestamps', '--new-bundle-format=false', ref]);

    // The same identity under another CA is not trusted: the certificate must chain to the root.
    const stranger = new RegistryClient();
    const check = await checkSignatures(stranger, prodRepo, signed.digest, {
      keys: [], identities: [{ issuer, subject: subject('promoter') }], certificateAuthorities: [], trustedRoot: await publicGoodTrustedRoot(),
    });
    await stranger.close();
    assert.equal(check.valid.length, 0);
    assert.match(check.problems.join('\n'), /CertificateNotTrusted|TransparencyLogNotVerified|TimestampNotVerified/);

    // A rerun recognises its own keyless signature and attestation: nothing new.
    const again = new RegistryClient();
    const rerun = await runPipeline(edges, again, { mode: 'Promote', concurrency: 2, planConcurrency: 4, trust });
    await again.close();
    assert.match(rerun.phases.find((p) => p.name === 'Sign')!.message, /^0 digests signed/);
    assert.match(rerun.phases.find((p) => p.name === 'Attest')!.message, /^0 promotion attestations written, 1 already there/);
  });

  test('a manifest\'s own trusted root verifies staging only: a signature forged under its CA does not pass for ours', async () => {
    // Another Fulcio trusting the same ServiceAccount issuer, with a CA of its own: a root a tenant controls.
    const evil = await startFulcio({ url: issuer, type: 'kubernetes', caPath: bed.kube.caPath });
    const client = new RegistryClient();
    try {
      const image = buildImage();
      await pushImage(staging, 'forged', image);
      await pushImage(prod, 'prod/forged', image);
      const prodRepo = { host: prod.host, name: 'prod/forged' };
      const evilRoot = parseTrustedRoot(evil.trustedRoot, 'the tenant\'s root');
      // A "signature by the controller" planted in production: our identity, certified by the tenant's CA.
      const forger = keylessSigner({ fulcioURL: evil.url, tokenPath, certificateAuthorities: evilRoot.certificateAuthorities, expectedIdentity: { issuer, subject: subject('promoter') } });
      const subjectOf = { mediaType: image.mediaType, digest: image.digest, size: image.bytes.length };
      await ensureSigned(client, forger, subjectOf, [prodRepo], { formats: ['bundle', 'legacy'] });

      // The tenant's spec.verification.trustedRoot (what the controller puts in TrustOptions.trustedRoot) names that CA.
      const trust: TrustOptions = {
        signing: { keyless: { audience: 'sigstore' } },
        keyless: { fulcioURL: fulcio.url, tokenPath, trustedRoot: fulcio.trustedRoot, identity: { issuer, subject: subject('promoter') } },
        signingServices: bed.signingServices,
        trustedRoot: evilRoot,
      };
      const edges: Edge[] = [{ src: { host: staging.host, name: 'forged' }, dst: prodRepo, digest: image.digest, tags: ['v1'] }];
      const report = await runPipeline(edges, client, { mode: 'Promote', concurrency: 2, planConcurrency: 4, trust });
      assert.equal(report.outcome, 'Succeeded', report.message);
      assert.match(report.phases.find((p) => p.name === 'Sign')!.message, /^1 digests signed by .*serviceaccounts\/promoter .*, 0 already signed/);
      await runTool('cosign', ['verify', ...http, ...identityFlags('promoter'), `${prod.host}/prod/forged@${image.digest}`]);
    } finally {
      await client.close();
      await evil.stop();
    }
  });
});
