// `hoist promote` with trust settings, as a release engineer runs it in CI: cosign-style flags
// (--verify-key, --key) or a PromotionManifest's own spec with --secrets-dir. Staging images
// signed by the real cosign pass, an unsigned one is refused with exit code 3, and what Hoist
// signs verifies with `cosign verify`. These key signatures have no Rekor entry, so, as with
// `cosign verify --insecure-ignore-tlog`, Hoist is told to ignore the log.
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { runHoist } from '../support/cli.ts';
import { buildImage, pushImage } from '../support/images.ts';
import { startRegistry, type TestRegistry } from '../support/registry.ts';
import { runTool } from '../support/testbed.ts';

const PASSWORD = 'cli-trust-password';
const http = ['--allow-http-registry', '--allow-insecure-registry'];
const hoist = (args: string[]) => runHoist(args, { env: { COSIGN_PASSWORD: PASSWORD } });

describe('hoist promote with trust', () => {
  let staging: TestRegistry;
  let prod: TestRegistry;
  let dir: string;
  let signingConfig: string;
  const cosign = (args: string[]) => runTool('cosign', args);
  const keys = { staging: { key: '', pub: '' }, release: { key: '', pub: '' } };

  before(async () => {
    process.env.COSIGN_PASSWORD = PASSWORD;
    [staging, prod] = await Promise.all([startRegistry(), startRegistry()]);
    dir = mkdtempSync(join(tmpdir(), 'hoist-cli-trust-'));
    signingConfig = join(dir, 'signing-config.json');
    await cosign(['signing-config', 'create', '--out', signingConfig]);
    for (const name of ['staging', 'release'] as const) {
      await cosign(['generate-key-pair', '--output-key-prefix', join(dir, name)]);
      keys[name] = { key: join(dir, `${name}.key`), pub: join(dir, `${name}.pub`) };
    }
  });
  after(async () => {
    await Promise.all([staging.stop(), prod.stop()]);
    rmSync(dir, { recursive: true, force: true });
  });

  test('flags: signed images promote and are signed again; an unsigned one is refused (exit 3)', async () => {
    const signed = buildImage();
    const unsigned = buildImage();
    await pushImage(staging, 'flags/signed', signed);
    await pushImage(staging, 'flags/unsigned', unsigned);
    await cosign(['sign', '--key', keys.staging.key, ...http, '--signing-config', signingConfig, '-y', `${staging.host}/flags/signed@${signed.digest}`]);
    const manifest = join(dir, 'flags.yaml');
    writeFileSync(manifest, [
      'registries:', `- name: ${staging.host}/flags`, '  src: true', `- name: ${prod.host}/released`,
      'images:',
      '- name: signed', '  dmap:', `    "${signed.digest}": ["v1"]`,
      '- name: unsigned', '  dmap:', `    "${unsigned.digest}": ["v1"]`, '',
    ].join('\n'));

    // As `cosign verify --key`, a key signature needs a Rekor entry unless the log is ignored.
    const strict = await hoist(['plan', '-f', manifest, '--verify-key', keys.staging.pub, '-o', 'json']);
    assert.equal(strict.code, 3, strict.stderr);
    assert.match(strict.stdout, /TransparencyLogEntryMissing: the signature has no transparency-log \(Rekor\) entry/);

    const run = await hoist(['promote', '-f', manifest, '--confirm', '--verify-key', keys.staging.pub, '--key', keys.release.key, '--insecure-ignore-tlog']);
    assert.equal(run.code, 3, run.stderr);
    assert.match(run.stdout, /UNVERIFIED\s+\S+\/released\/unsigned:v1/);
    assert.match(run.stdout, /1 promoted, .*1 unverified refused/);
    assert.match(run.stdout, /attestations: 1 promotion records attached/);
    await cosign(['verify', '--key', keys.release.pub, ...http, '--insecure-ignore-tlog=true', `${prod.host}/released/signed@${signed.digest}`]);
    await assert.rejects(runTool('crane', ['digest', '--insecure', `${prod.host}/released/unsigned:v1`]), 'the unverified image was not copied');
  });

  test('a PromotionManifest names its keys as Secrets, served from --secrets-dir', async () => {
    const image = buildImage();
    await pushImage(staging, 'res/app', image);
    await cosign(['sign', '--key', keys.staging.key, ...http, '--signing-config', signingConfig, '-y', `${staging.host}/res/app@${image.digest}`]);
    const secrets = join(dir, 'secrets');
    for (const [secret, files] of Object.entries({ 'staging-signer': { 'cosign.pub': keys.staging.pub }, 'release-key': { 'cosign.key': keys.release.key } })) {
      mkdirSync(join(secrets, secret), { recursive: true });
      for (const [name, from] of Object.entries(files)) copyFileSync(from, join(secrets, secret, name));
    }
    writeFileSync(join(secrets, 'release-key', 'cosign.password'), PASSWORD);
    const resource = join(dir, 'resource.yaml');
    writeFileSync(resource, [
      'apiVersion: hoist.dev/v1alpha1', 'kind: PromotionManifest', 'metadata:', '  name: app', '  namespace: releases', 'spec:',
      '  registries:', `  - name: ${staging.host}/res`, '    src: true', `  - name: ${prod.host}/from-resource`,
      '  images:', '  - name: app', '    dmap:', `      "${image.digest}": ["v2"]`,
      '  verification:', '    signatures:', '      mode: Enforce', '      keys:', '      - secretRef:', '          name: staging-signer',
      '  signing:', '    key:', '      secretRef:', '        name: release-key', '',
    ].join('\n'));

    const missing = await hoist(['promote', '-f', resource, '--confirm', '--insecure-ignore-tlog']);
    assert.notEqual(missing.code, 0);
    assert.match(missing.stdout + missing.stderr, /--secrets-dir/);

    const run = await hoist(['promote', '-f', resource, '--confirm', '--secrets-dir', secrets, '--insecure-ignore-tlog']);
    assert.equal(run.code, 0, run.stdout + run.stderr);
    await cosign(['verify', '--key', keys.release.pub, ...http, '--insecure-ignore-tlog=true', `${prod.host}/from-resource/app:v2`]);
  });
});
