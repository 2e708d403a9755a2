// `hoist promote` and `hoist plan` as a user runs them: a kpromo manifest naming real local
// registries, the process's exit codes and output, and a promotion killed half-way that a
// rerun completes without duplicates or corruption.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { runHoist } from '../support/cli.ts';
import { startFaultProxy, type FaultProxy } from '../support/fault-proxy.ts';
import { buildImage, buildIndex, pushImage, type BuiltImage } from '../support/images.ts';
import { startRegistry, type TestRegistry } from '../support/registry.ts';
import { runTool } from '../support/testbed.ts';

const hoist = runHoist;

function manifest(dir: string, registries: { name: string; src?: boolean }[], images: { name: string; digest: string; tags: string[] }[]): string {
  const lines = ['registries:'];
  for (const r of registries) lines.push(`- name: ${r.name}`, ...(r.src ? ['  src: true'] : []));
  lines.push('images:');
  for (const image of images) {
    lines.push(`- name: ${image.name}`, '  dmap:', `    "${image.digest}": [${image.tags.map((t) => `"${t}"`).join(', ')}]`);
  }
  const file = join(dir, `manifest-${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(file, `${lines.join('\n')}\n`);
  return file;
}

describe('hoist promote and hoist plan', () => {
  let staging: TestRegistry;
  let prods: TestRegistry[];
  let dir: string;
  before(async () => {
    [staging, ...prods] = await Promise.all([startRegistry(), startRegistry(), startRegistry()]);
    dir = mkdtempSync(join(tmpdir(), 'hoist-cli-'));
  });
  after(() => Promise.all([staging, ...prods].map((r) => r.stop())));

  test('a dry run by default, then --confirm promotes; json output and exit codes', async () => {
    const image = buildIndex();
    await pushImage(staging, 'app', image);
    const file = manifest(dir, [{ name: `${staging.host}`, src: true }, { name: `${prods[0]!.host}/prod` }, { name: `${prods[1]!.host}/prod` }],
      [{ name: 'app', digest: image.digest, tags: ['v1.0.0'] }]);

    const dry = await hoist(['promote', '--manifest', file]);
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(dry.stdout, /PROMOTE\s+127\.0\.0\.1:\d+\/prod\/app:v1\.0\.0\s+\w{12}\s+would be promoted/);
    assert.match(dry.stderr, /pass --confirm to promote/);
    await assert.rejects(runTool('crane', ['digest', '--insecure', `${prods[0]!.host}/prod/app:v1.0.0`]));

    const real = await hoist(['promote', '--manifest', file, '--confirm', '--output', 'json']);
    assert.equal(real.code, 0, real.stderr);
    const report = JSON.parse(real.stdout) as { outcome: string; summary: { promoted: number }; edges: { state: string }[] };
    assert.equal(report.outcome, 'Succeeded');
    assert.equal(report.summary.promoted, 2);
    assert.match(real.stderr, /^Promote\s+succeeded/m, 'plain progress lines when stderr is not a terminal');
    for (const prod of prods) assert.equal((await runTool('crane', ['digest', '--insecure', `${prod.host}/prod/app:v1.0.0`])).trim(), image.digest);

    const again = await hoist(['promote', '--manifest', file, '--confirm']);
    assert.equal(again.code, 0);
    assert.match(again.stdout, /Succeeded: 2 edges, 0 promoted, 2 already present/);
  });

  test('plan exits 3 on a tag move and a lost digest, naming both', async () => {
    const image = buildImage();
    const other = buildImage();
    await pushImage(staging, 'moving', image);
    await pushImage(prods[0]!, 'prod/moving', other, ['v2']);
    const lost = `sha256:${'e'.repeat(64)}`;
    const file = manifest(dir, [{ name: staging.host, src: true }, { name: `${prods[0]!.host}/prod` }],
      [{ name: 'moving', digest: image.digest, tags: ['v2'] }, { name: 'gone', digest: lost, tags: ['v1'] }]);
    const plan = await hoist(['plan', '-f', file]);
    assert.equal(plan.code, 3, plan.stderr);
    assert.match(plan.stdout, /TAGMOVE\s+.*prod\/moving:v2 .*prod\/moving:v2 is sha256:/);
    assert.match(plan.stdout, /LOST\s+.*prod\/gone:v1 .*does not exist/);
  });

  test('bad manifests and bad flags fail before any registry is touched', async () => {
    const file = join(dir, 'bad.yaml');
    writeFileSync(file, 'registries:\n- name: r.io/a\n  src: true\nimages:\n- name: app\n  dmap:\n    "sha256:123": ["v1"]\n');
    const bad = await hoist(['promote', '-f', file]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /bad\.yaml:7:5: /);
    const usage = await hoist(['promote', '-f', file, '--concurrency', '0']);
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /--concurrency must be a whole number of at least 1/);
    const tooLong = await hoist(['plan', '-f', file, '--timeout', '720h']);
    assert.equal(tooLong.code, 2);
    assert.match(tooLong.stderr, /--timeout must be at most 576h/);
    const missing = await hoist(['plan']);
    assert.equal(missing.code, 2);
  });

  describe('killed mid-promotion', () => {
    let slow: FaultProxy;
    before(async () => { slow = await startFaultProxy(prods[1]!.url); });
    after(() => slow.close());

    test('a rerun completes the job: every image whole, nothing duplicated', async () => {
      const images: { name: string; image: BuiltImage }[] = Array.from({ length: 12 }, (_, i) => ({ name: `many${i}`, image: buildImage({ layers: [30_000, 10_000] }) }));
      for (const { name, image } of images) await pushImage(staging, name, image);
      // Latency on every destination request stretches the run so the kill lands inside Promote.
      slow.setLatency(40);
      const file = manifest(dir, [{ name: staging.host, src: true }, { name: `${slow.host}/k` }],
        images.map(({ name, image }) => ({ name, digest: image.digest, tags: ['v1'] })));
      const killed = await hoist(['promote', '-f', file, '--confirm', '--concurrency', '2'], { killWhen: (err) => /^promoted /m.test(err) });
      assert.equal(killed.signal, 'SIGKILL', `the run ended before it could be killed: ${killed.stderr}`);
      slow.setLatency(0);

      const rerun = await hoist(['promote', '-f', file, '--confirm', '-o', 'json']);
      assert.equal(rerun.code, 0, rerun.stderr);
      const report = JSON.parse(rerun.stdout) as { summary: { promoted: number; alreadyPresent: number } };
      assert.ok(report.summary.alreadyPresent >= 1, 'the killed run finished some edges');
      assert.equal(report.summary.promoted + report.summary.alreadyPresent, 12);
      for (const { name, image } of images) {
        const ref = `${prods[1]!.host}/k/${name}:v1`;
        assert.equal((await runTool('crane', ['digest', '--insecure', ref])).trim(), image.digest);
        await runTool('crane', ['validate', '--insecure', '--remote', ref]);
        assert.deepEqual((await runTool('crane', ['ls', '--insecure', `${prods[1]!.host}/k/${name}`])).trim().split('\n'), ['v1']);
      }
    });
  });
});
