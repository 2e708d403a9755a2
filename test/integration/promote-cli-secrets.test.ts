// `hoist plan/promote -f pm.yaml` on a PromotionManifest whose production registry needs the
// credentials of credentials.secretRef (issue 17.8): the same file that works in the cluster
// works in CI with --secrets-dir, and without it the error names the flag, before any
// registry is asked.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { runHoist } from '../support/cli.ts';
import { buildImage, pushImage } from '../support/images.ts';
import { startRegistry, type TestRegistry } from '../support/registry.ts';
import { runTool } from '../support/testbed.ts';

describe('credentials.secretRef from --secrets-dir', () => {
  let staging: TestRegistry;
  let prod: TestRegistry;
  let dir: string;
  before(async () => {
    [staging, prod] = await Promise.all([startRegistry(), startRegistry({ kind: 'basic', username: 'pusher', password: 'pa55word' })]);
    dir = mkdtempSync(join(tmpdir(), 'hoist-cli-secrets-'));
  });
  after(async () => {
    await Promise.all([staging.stop(), prod.stop()]);
    rmSync(dir, { recursive: true, force: true });
  });

  test('plan and promote read the Secret from a folder of Secret manifests; without it exit 2 naming the flag', async () => {
    const image = buildImage();
    await pushImage(staging, 'staging/bom', image);
    const pm = join(dir, 'bom.yaml');
    writeFileSync(pm, `apiVersion: hoist.dev/v1alpha1
kind: PromotionManifest
metadata:
  name: bom
  namespace: releng
spec:
  registries:
    - name: ${staging.host}/staging
      src: true
    - name: ${prod.host}/releases
      credentials:
        secretRef:
          name: prod-push
  images:
    - name: bom
      dmap:
        "${image.digest}": ["v0.6.0"]
`);
    const missing = await runHoist(['plan', '-f', pm]);
    assert.equal(missing.code, 2, missing.stderr);
    assert.match(missing.stderr, /takes its credentials from Secret "prod-push" \(credentials\.secretRef\); pass --secrets-dir DIR/);
    // The old symptom: the registry's "refused anonymous access" instead of a word about the Secret.
    assert.doesNotMatch(missing.stderr, /refused anonymous access|Unauthorized/);

    // As `kubectl create secret docker-registry prod-push --dry-run=client -o yaml` writes it.
    const secrets = join(dir, 'secrets');
    mkdirSync(secrets);
    const config = JSON.stringify({ auths: { [prod.host]: { username: 'pusher', password: 'pa55word', auth: Buffer.from('pusher:pa55word').toString('base64') } } });
    writeFileSync(join(secrets, 'prod-push.yaml'), `apiVersion: v1\nkind: Secret\nmetadata:\n  name: prod-push\n  namespace: releng\ntype: kubernetes.io/dockerconfigjson\ndata:\n  .dockerconfigjson: ${Buffer.from(config).toString('base64')}\n`);
    const plan = await runHoist(['plan', '-f', pm, '--secrets-dir', secrets, '-o', 'json']);
    assert.equal(plan.code, 0, plan.stderr);
    assert.equal((JSON.parse(plan.stdout) as { summary: { toPromote: number } }).summary.toPromote, 1);

    const promote = await runHoist(['promote', '-f', pm, '--secrets-dir', secrets, '--confirm', '-q']);
    assert.equal(promote.code, 0, promote.stderr);
    const digest = await runTool('crane', ['digest', '--insecure', `${prod.host}/releases/bom:v0.6.0`], {}).catch((e: Error) => e.message);
    // crane has no credentials here: the registry refuses it, which proves the auth is real;
    // the copy is checked through the next plan instead.
    assert.match(digest, /UNAUTHORIZED|unauthorized|401/);
    const again = await runHoist(['plan', '-f', pm, '--secrets-dir', secrets, '-o', 'json']);
    assert.equal((JSON.parse(again.stdout) as { summary: { alreadyPresent: number } }).summary.alreadyPresent, 1);

    // A wrong password in the Secret: the registry's own refusal, not an anonymous attempt.
    const wrong = JSON.stringify({ auths: { [prod.host]: { auth: Buffer.from('pusher:wrong').toString('base64') } } });
    mkdirSync(join(dir, 'wrong', 'prod-push'), { recursive: true });
    writeFileSync(join(dir, 'wrong', 'prod-push', '.dockerconfigjson'), wrong);
    const refused = await runHoist(['plan', '-f', pm, '--secrets-dir', join(dir, 'wrong'), '-o', 'json', '-q']);
    assert.equal(refused.code, 1, refused.stderr);
    assert.match(refused.stdout, /Unauthorized/);
  });
});
