// `hoist promote` keyless, as CI runs it with an OIDC token: --verify-identity checks staging's
// keyless signatures against a trusted_root.json, --keyless signs with a Fulcio certificate for
// the token's identity. A real Fulcio (ephemeral CA) trusts the test kube-apiserver's
// ServiceAccount issuer; the real cosign verifies what Hoist wrote against the same root. The
// CLI is never told its own identity: it works it out from the token, and a rerun proves it
// recognises its earlier signature and attestation.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { PROMOTION_PREDICATE } from '../../src/provenance/promotion.ts';
import { startFulcio, type TestFulcio } from '../support/fulcio.ts';
import { buildImage, pushImage } from '../support/images.ts';
import { startKube, type TestKube } from '../support/kube.ts';
import { startRegistry, type TestRegistry } from '../support/registry.ts';
import { runTool } from '../support/testbed.ts';

const http = ['--allow-http-registry', '--allow-insecure-registry'];
const hoistBin = new URL('../../bin/hoist.js', import.meta.url).pathname;

function hoist(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [hoistBin, ...args], { env: { ...process.env, DOCKER_CONFIG: '/nonexistent' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d; });
    child.stderr.on('data', (d: Buffer) => { stderr += d; });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('hoist promote keyless', () => {
  let kube: TestKube;
  let fulcio: TestFulcio;
  let staging: TestRegistry;
  let prod: TestRegistry;
  let dir: string;
  let issuer: string;
  let signingConfig: string;
  const subject = (sa: string) => `https://kubernetes.io/namespaces/default/serviceaccounts/${sa}`;
  const tokenFile = async (sa: string) => {
    const file = join(dir, `${sa}-token`);
    writeFileSync(file, await runTool('kubectl', ['--kubeconfig', kube.kubeconfig, 'create', 'token', sa, '-n', 'default', '--audience', 'sigstore', '--duration', '1h']));
    return file;
  };
  const identityFlags = (sa: string) => [
    '--trusted-root', fulcio.trustedRootPath, '--certificate-identity', subject(sa), '--certificate-oidc-issuer', issuer,
    '--insecure-ignore-tlog=true', '--insecure-ignore-sct=true',
  ];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'hoist-cli-keyless-'));
    [kube, staging, prod] = await Promise.all([startKube(), startRegistry(), startRegistry()]);
    issuer = `${kube.server}/`;
    // Fulcio fetches the issuer's discovery document and keys anonymously.
    kube.kubectl(['create', 'clusterrolebinding', 'oidc-discovery-anonymous', '--clusterrole=system:service-account-issuer-discovery', '--group=system:unauthenticated']);
    kube.kubectl(['create', 'serviceaccount', 'promoter', '-n', 'default']);
    kube.kubectl(['create', 'serviceaccount', 'builder', '-n', 'default']);
    fulcio = await startFulcio({ url: issuer, type: 'kubernetes', caPath: kube.caPath });
    signingConfig = join(dir, 'signing-config.json');
    await runTool('cosign', ['signing-config', 'create', '--fulcio', `url=${fulcio.url},api-version=1,start-time=2024-01-01T00:00:00Z,operator=hoist-test`, '--out', signingConfig]);
  });
  after(async () => {
    await Promise.all([fulcio?.stop(), staging?.stop(), prod?.stop(), kube?.stop()]);
    rmSync(dir, { recursive: true, force: true });
  });

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
      [['--keyless', '--identity-token-file', notJson], /keyless signing needs --trusted-root FILE/],
      [['--verify-identity', `${issuer}=builder`], /verifying keyless identities needs --trusted-root FILE/],
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
