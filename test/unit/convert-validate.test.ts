// `hoist convert` and `hoist validate` end to end through main(), plus the convert round trip.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { main } from '../../src/cli/main.ts';
import { expandEdges, type Edge } from '../../src/manifest/model.ts';
import { parsePromotionManifests } from '../../src/manifest/resource.ts';
import { loadThinManifestDirectory } from '../../src/manifest/thin.ts';

// Importing cli.test.ts's helper would run its tests again here, so a local one.
function capture() {
  const text = { out: '', err: '' };
  const sink = (key: 'out' | 'err') => new Writable({ write(chunk, _enc, done) { text[key] += String(chunk); done(); } });
  return { io: { out: sink('out'), err: sink('err') }, out: () => text.out, err: () => text.err };
}

const thin = 'test/fixtures/kpromo/thin';
const byKey = (a: Edge, b: Edge) => `${a.dstImage}@${a.digest}`.localeCompare(`${b.dstImage}@${b.digest}`);

test('convert round-trips: the resources read back give the same edges as the thin manifests', async () => {
  const c = capture();
  assert.equal(await main(['convert', thin, '--namespace', 'promo'], c.io), 0);
  const { manifests, errors } = parsePromotionManifests('stdout', c.out());
  assert.deepEqual(errors, []);
  assert.deepEqual(manifests.map((m) => [m.name, m.namespace]), [['k8s-staging-bom', 'promo'], ['sigstore', 'promo']]);
  const { projects } = await loadThinManifestDirectory(thin);
  for (const [i, project] of projects.entries()) {
    assert.deepEqual(expandEdges(manifests[i]!.spec).sort(byKey), expandEdges(project.spec).sort(byKey));
  }
  assert.match(c.err(), /service-account is not carried over/);
});

test('convert is deterministic: src registry first, digests sorted, same bytes every run', async () => {
  const [a, b] = [capture(), capture()];
  await main(['convert', thin], a.io);
  await main(['convert', thin], b.io);
  assert.equal(a.out(), b.out());
  const bom = a.out().split('---\n')[0]!;
  assert.match(bom, /registries:\n {4}- name: gcr\.io\/k8s-staging-bom\n {6}src: true\n/);
  const digests = [...bom.matchAll(/(sha256:[0-9a-f]{64}): \[ (\S+) \]/g)].map((m) => m[1]!);
  assert.equal(digests.length, 6);
  assert.deepEqual(digests, [...digests].sort());
  assert.doesNotMatch(bom, /namespace:/);
});

test('convert --output-dir writes one file per project, which validate accepts', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'hoist-convert-'));
  try {
    const c = capture();
    assert.equal(await main(['convert', thin, '--output-dir', dir], c.io), 0);
    assert.deepEqual(readdirSync(dir).sort(), ['k8s-staging-bom.yaml', 'sigstore.yaml']);
    assert.match(readFileSync(join(dir, 'sigstore.yaml'), 'utf8'), /^# Converted by hoist convert from manifests\/sigstore/);
    const v = capture();
    assert.equal(await main(['validate', dir], v.io), 0);
    assert.equal(v.out(), 'ok: 2 manifests, 122 edges\n');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('convert refuses a broken directory and writes nothing', async () => {
  const c = capture();
  assert.equal(await main(['convert', 'test/fixtures/manifests/thin-broken'], c.io), 1);
  assert.equal(c.out(), '');
  assert.match(c.err(), /error: 5 problems; nothing converted\n$/);
});

test('convert refuses a project too large for one PromotionManifest, naming the limit', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'hoist-convert-limits-'));
  try {
    mkdirSync(join(dir, 'manifests', 'big'), { recursive: true });
    mkdirSync(join(dir, 'images', 'big'), { recursive: true });
    writeFileSync(join(dir, 'manifests', 'big', 'promoter-manifest.yaml'), 'registries:\n- name: gcr.io/staging\n  src: true\n- name: gcr.io/prod\n');
    const images = Array.from({ length: 257 }, (_, i) => `- name: app${i}\n  dmap:\n    "sha256:${'a'.repeat(64)}": ["v1"]\n`).join('');
    writeFileSync(join(dir, 'images', 'big', 'images.yaml'), images);
    const c = capture();
    assert.equal(await main(['convert', dir], c.io), 1);
    assert.equal(c.out(), '');
    assert.match(c.err(), /project "big": spec\.images: .*at most 64 registries, 256 images.*split the project/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('validate accepts a thin-manifest directory, a plain manifest and a resource stream', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'hoist-validate-'));
  try {
    const t = capture();
    assert.equal(await main(['validate', thin], t.io), 0);
    assert.equal(t.out(), 'ok: 2 manifests, 122 edges\n');
    const p = capture();
    assert.equal(await main(['validate', 'test/fixtures/manifests/plain.yaml'], p.io), 0);
    assert.equal(p.out(), 'ok: 1 manifest, 4 edges\n');
    const stream = capture();
    await main(['convert', thin], stream.io);
    writeFileSync(join(dir, 'all.yaml'), stream.out());
    const r = capture();
    assert.equal(await main(['validate', join(dir, 'all.yaml')], r.io), 0);
    assert.equal(r.out(), 'ok: 2 manifests, 122 edges\n');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('validate prints located errors like a compiler and exits 1', async () => {
  const c = capture();
  assert.equal(await main(['validate', 'test/fixtures/manifests/broken-resource.yaml'], c.io), 1);
  assert.equal(c.out(), '');
  assert.deepEqual(c.err().trim().split('\n'), [
    'test/fixtures/manifests/broken-resource.yaml:10:12: spec.registries[1].src: a second source registry "gcr.io/prod" (the first is "gcr.io/staging" at line 8); a manifest has exactly one src registry — set src: false on all but one',
    'error: 1 problem',
  ]);
  const t = capture();
  assert.equal(await main(['validate', 'test/fixtures/manifests/thin-broken'], t.io), 1);
  assert.match(t.err(), /^test\/fixtures\/manifests\/thin-broken\/images\/two-src\/images\.yaml:4:81: \[0\]\.dmap/m);
});

test('convert and validate report usage errors with exit code 2', async () => {
  for (const args of [['convert'], ['validate'], ['validate', 'a', 'b'], ['validate', 'no/such/file.yaml'], ['convert', thin, '--namespace', 'Bad_NS']]) {
    const c = capture();
    assert.equal(await main(args, c.io), 2, args.join(' '));
    assert.match(c.err(), /Run 'hoist (convert|validate) --help' for usage/);
  }
});
