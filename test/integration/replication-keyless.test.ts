// Replication of Hoist's own keyless signatures: `hoist promote --keyless` signs and attests on
// the primary only (a bundle with a Rekor v2 entry and a TSA timestamp, a legacy .sig, the
// promotion attestation), the mirrors hold the image unsigned (promoted before signing was
// configured), and `hoist replicate` brings everything over. The real cosign then verifies each
// mirror with the primary's identity, the bed's trusted root and nothing --insecure.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { PROMOTION_PREDICATE } from '../../src/provenance/promotion.ts';
import { runHoist } from '../support/cli.ts';
import { startKeylessBed, type KeylessBed } from '../support/keyless.ts';
import { buildIndex, pushImage } from '../support/images.ts';
import { startRegistry, type TestRegistry } from '../support/registry.ts';
import { runTool } from '../support/testbed.ts';

const http = ['--allow-http-registry', '--allow-insecure-registry'];

describe('hoist replicate of keyless signatures', () => {
  let bed: KeylessBed;
  let staging: TestRegistry;
  let primary: TestRegistry;
  let mirrors: TestRegistry[];

  const started: { stop(): Promise<void> }[] = [];
  const track = (starting: Promise<{ stop(): Promise<void> }>) => starting.then((server) => { started.push(server); return server; });

  before(async () => {
    // Each server is stopped after, even when another failed to start.
    [bed, staging, primary, ...mirrors] = await Promise.all([startKeylessBed(['promoter']), startRegistry(), startRegistry(), startRegistry(), startRegistry()].map(track)) as unknown as [KeylessBed, TestRegistry, TestRegistry, ...TestRegistry[]];
  });
  after(() => Promise.all(started.map((s) => s.stop())));

  test('each repaired mirror passes cosign verify with the primary\'s keyless identity', async () => {
    const image = buildIndex();
    await pushImage(staging, 'app', image, ['v1']);
    // The mirrors got the image before signing was configured.
    for (const mirror of mirrors) await pushImage(mirror, 'released/app', image, ['v1']);
    const promote = join(bed.dir, 'promote.yaml');
    writeFileSync(promote, ['registries:', `- name: ${staging.host}`, '  src: true', `- name: ${primary.host}/released`, 'images:', '- name: app', '  dmap:', `    "${image.digest}": ["v1"]`, ''].join('\n'));
    const signed = await runHoist([
      'promote', '-f', promote, '--confirm', '--trusted-root', bed.fulcio.trustedRootPath,
      '--keyless', '--fulcio-url', bed.fulcio.url, '--identity-token-file', bed.tokenFile('promoter'), '--signing-config', bed.signingConfig,
    ]);
    assert.equal(signed.code, 0, signed.stderr + signed.stdout);

    const manifests = join(bed.dir, 'all.yaml');
    writeFileSync(manifests, [
      'registries:', `- name: ${staging.host}`, '  src: true', `- name: ${primary.host}/released`, ...mirrors.map((m) => `- name: ${m.host}/released`),
      'images:', '- name: app', '  dmap:', `    "${image.digest}": ["v1"]`, '',
    ].join('\n'));
    const run = await runHoist(['replicate', '-f', manifests, '--primary', `${primary.host}/released`, '--confirm', '-o', 'json']);
    assert.equal(run.code, 0, run.stderr + run.stdout);
    const report = JSON.parse(run.stdout) as { counts: Record<string, number> };
    // The index and each of its images were signed by the Sign phase: all go to both mirrors.
    assert.deepEqual([report.counts.signed, report.counts.repaired, report.counts.failed], [1 + image.children.length, 2 * (1 + image.children.length), 0]);

    for (const mirror of mirrors) {
      for (const digest of [image.digest, ...image.children.map((c) => c.digest)]) {
        const ref = `${mirror.host}/released/app@${digest}`;
        await runTool('cosign', ['verify', ...http, ...bed.cosignIdentityFlags('promoter'), ref]);
        // The legacy .sig too, as an admission controller reading .sig tags does, by its TSA timestamp.
        await runTool('cosign', ['verify', ...http, ...bed.cosignIdentityFlags('promoter'), '--insecure-ignore-tlog', '--use-signed-timestamps', '--new-bundle-format=false', ref]);
      }
      await runTool('cosign', ['verify-attestation', '--type', PROMOTION_PREDICATE, ...http, ...bed.cosignIdentityFlags('promoter'), `${mirror.host}/released/app@${image.digest}`]);
    }
    const again = await runHoist(['replicate', '-f', manifests, '--primary', `${primary.host}/released`, '--confirm', '-o', 'json']);
    assert.equal(again.code, 0, again.stderr);
    assert.equal((JSON.parse(again.stdout) as { counts: Record<string, number> }).counts.repaired, 0);
  });
});
