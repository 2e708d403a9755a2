// `hoist promote` keyless, as CI runs it with an OIDC token: --verify-identity checks staging's
// keyless signatures against a trusted_root.json, --keyless signs with a Fulcio certificate for
// the token's identity. A real Fulcio (ephemeral CA) trusts the test kube-apiserver's
// ServiceAccount issuer; the real cosign verifies what Hoist wrote against the same root. The
// CLI is never told its own identity: it works it out from the token, and a rerun proves it
// recognises its earlier signature and attestation.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { PROMOTION_PREDICATE } from '../../src/provenance/promotion.ts';
import type { TestFulcio } from '../support/fulcio.ts';
import { startKeylessBed, type KeylessBed } from '../support/keyless.ts';
import { runHoist } from '../support/cli.ts';
import { buildImage, pushImage } from '../support/images.ts';
import { startRegistry, type TestRegistry } from '../support/registry.ts';
import { runTool } from '../support/testbed.ts';

const http = ['--allow-http-registry', '--allow-insecure-registry'];
const hoist = runHoist;

describe('hoist promote keyless', () => {
  let bed: KeylessBed;
  let fulcio: TestFulcio;
  let staging: TestRegistry;
  let prod: TestRegistry;
  let dir: string;
  let issuer: string;
  let signingConfig: string;
  const tokenFile = (sa: string) => bed.tokenFile(sa);
  const identityFlags = (sa: string) => bed.cosignIdentityFlags(sa);

  before(async () => {
    [bed, staging, prod] = await Promise.all([startKeylessBed(['promoter', 'builder']), startRegistry(), startRegistry()]);
    ({ fulcio, issuer, dir, signingConfig } = bed);
  });
  after(() => Promise.all([bed?.stop(), staging?.stop(), prod?.stop()]));

  test('--verify-identity refuses a foreign signer; --keyless signs and attests; cosign verifies; a rerun writes nothing', async () => {
    const signed = buildImage();
    const foreign = buildImage();
    await pushImage(staging, 'keyless/app', signed);
    await pushImage(staging, 'keyless/foreign', foreign);
    for (const [name, image, sa] of [['app', signed, 'builder'], ['foreign', foreign, 'promoter']] as const) {
      await runTool('cosign', ['sign', '--identity-token', await tokenFile(sa), '--signing-config', signingConfig, '--trusted-root', fulcio.trustedRootPath, ...http, '-y', `${staging.host}/keyless/${name}@${image.digest}`]);
    }
    const manifest = join(dir, 'keyless.yaml');
    writeFileSync(manifest, [
      'registries:', `- name: ${staging.host}/keyless`, '  src: true', `- name: ${prod.host}/released`,
      'images:',
      '- name: app', '  dmap:', `    "${signed.digest}": ["v1"]`,
      '- name: foreign', '  dmap:', `    "${foreign.digest}": ["v1"]`, '',
    ].join('\n'));
    const args = [
      'promote', '-f', manifest, '--confirm',
      '--verify-identity', `${issuer}=/serviceaccounts/builder$`, '--trusted-root', fulcio.trustedRootPath,
      '--keyless', '--fulcio-url', fulcio.url, '--identity-token-file', await tokenFile('promoter'),
      // The bed's Rekor v2 and timestamp authority: our signatures outlive their certificates.
      '--signing-config', signingConfig,
    ];

    const run = await hoist(args);
    assert.equal(run.code, 3, run.stderr);
    assert.match(run.stdout, /UNVERIFIED\s+\S+\/released\/foreign:v1/);
    assert.match(run.stdout, /1 promoted, .*1 unverified refused/);
    assert.match(run.stdout, /attestations: 1 promotion records attached/);

    const ref = `${prod.host}/released/app@${signed.digest}`;
    await runTool('cosign', ['verify', ...http, ...identityFlags('promoter'), ref]);
    await runTool('cosign', ['verify', ...http, ...identityFlags('builder'), ref]);
    const attestation = await runTool('cosign', ['verify-attestation', '--type', PROMOTION_PREDICATE, ...http, ...identityFlags('promoter'), ref]);
    assert.match(attestation, /"payloadType":"application\/vnd.in-toto\+json"/);
    await assert.rejects(runTool('crane', ['digest', '--insecure', `${prod.host}/released/foreign:v1`]), 'the unverified image was not copied');

    // hoist verify says the same as cosign, for the signature and the promotion attestation.
    const verified = await hoist(['verify', `${prod.host}/released/app:v1`, '--certificate-identity', bed.subject('promoter'), '--certificate-oidc-issuer', issuer,
      '--trusted-root', fulcio.trustedRootPath, '--attestation-type', PROMOTION_PREDICATE, '-o', 'json']);
    assert.equal(verified.code, 0, verified.stdout + verified.stderr);
    const report = JSON.parse(verified.stdout) as { digest: string; signatures: { format: string }[]; attestations: { predicateType: string }[] };
    assert.equal(report.digest, signed.digest);
    assert.ok(report.signatures.some((s) => s.format === 'bundle'));
    assert.deepEqual([...new Set(report.attestations.map((a) => a.predicateType))], [PROMOTION_PREDICATE]);

    // Nobody told the CLI who it is: the token's claims did, so it recognises its own work.
    const rerun = await hoist([...args, '-o', 'json', '--quiet']);
    assert.equal(rerun.code, 3, rerun.stderr);
    const phases = (JSON.parse(rerun.stdout) as { phases: { name: string; message: string }[] }).phases;
    assert.match(phases.find((p) => p.name === 'Sign')!.message, /^0 digests signed by https:\/\/kubernetes.io\/namespaces\/default\/serviceaccounts\/promoter/);
    assert.match(phases.find((p) => p.name === 'Attest')!.message, /^0 promotion attestations written, 1 already there/);
  });

  test('keyless settings that cannot work are usage errors (exit 2) before any registry is touched', async () => {
    const manifest = join(dir, 'usage.yaml');
    writeFileSync(manifest, [
      'registries:', '- name: 127.0.0.1:1/staging', '  src: true', '- name: 127.0.0.1:1/prod',
      'images:', '- name: app', '  dmap:', `    "sha256:${'0'.repeat(64)}": ["v1"]`, '',
    ].join('\n'));
    const notJson = join(dir, 'not-a-root.json');
    writeFileSync(notJson, '{"certificateAuthorities": []}');
    const cases: [string[], RegExp][] = [
      [['--keyless'], /keyless signing needs --identity-token-file FILE/],
      [['--keyless', '--fulcio-url', fulcio.url, '--identity-token-file', notJson], /keyless signing with a Fulcio other than fulcio.sigstore.dev needs --trusted-root FILE/],
      [['--verify-identity', 'no-separator'], /--verify-identity must be ISSUER=SUBJECT_REGEXP/],
      [['--verify-identity', `${issuer}=(`, '--trusted-root', fulcio.trustedRootPath], /not a valid regular expression/],
      [['--verify-identity', `${issuer}=x`, '--trusted-root', join(dir, 'missing.json')], /--trusted-root: cannot read the trusted root .*ENOENT/],
      [['--verify-identity', `${issuer}=x`, '--trusted-root', notJson], /names no Fulcio certificate authority/],
      [['--keyless', '--key', notJson, '--identity-token-file', notJson], /give one of --key or --keyless/],
    ];
    for (const [flags, message] of cases) {
      const run = await hoist(['promote', '-f', manifest, '--confirm', ...flags]);
      assert.equal(run.code, 2, `${flags.join(' ')}: ${run.stderr}`);
      assert.match(run.stderr, message, flags.join(' '));
    }
  });
});
