// `hoist convert`, `hoist validate` and `hoist plan --parse-only` end to end through main(): the
// convert round trip and split, per-project isolation, exit codes, and hostile input (issue 12).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, test } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { main } from '../../src/cli/main.ts';
import { loadManifests } from '../../src/manifest/load.ts';
import { expandRun, type Edge, type PromotionSpec } from '../../src/manifest/model.ts';
import { maxManifestFileBytes } from '../../src/manifest/read.ts';
import { parsePromotionManifests } from '../../src/manifest/resource.ts';
import { resourceBudgetBytes } from '../../src/manifest/split.ts';

// Importing cli.test.ts's helper would run its tests again here, so a local one.
function capture() {
  const text = { out: '', err: '' };
  const sink = (key: 'out' | 'err') => new Writable({ write(chunk, _enc, done) { text[key] += String(chunk); done(); } });
  return { io: { out: sink('out'), err: sink('err') }, out: () => text.out, err: () => text.err };
}

async function run(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const c = capture();
  const code = await main(args, c.io);
  return { code, out: c.out(), err: c.err() };
}

const thin = 'test/fixtures/kpromo/thin';
const sample = 'test/fixtures/k8sio/registry.k8s.io-sample';
const A = `sha256:${'a'.repeat(64)}`;
const edgeKey = (e: Edge) => `${e.src.host}/${e.src.name}@${e.digest} -> ${e.dst.host}/${e.dst.name} [${e.tags.join(',')}]`;
const keys = (edges: Edge[]) => edges.map(edgeKey).sort();
/** Each dmap entry with the registry set it goes to (by index of first appearance): the edges, factored. */
function entryKeys(specs: PromotionSpec[]): string[] {
  const sets = new Map<string, number>();
  return specs.flatMap((spec) => {
    const registries = JSON.stringify(spec.registries);
    if (!sets.has(registries)) sets.set(registries, sets.size);
    const set = sets.get(registries)!;
    return spec.images.flatMap((image) => Object.entries(image.dmap).map(([digest, tags]) => `${set} ${image.name}@${digest} [${tags.join(',')}]`));
  }).sort();
}

const tmp = mkdtempSync(join(tmpdir(), 'hoist-convert-validate-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
let dirs = 0;
/** A fresh thin-manifest directory with `projects` (name -> [promoter-manifest.yaml, images.yaml]). */
function thinDir(projects: Record<string, [string, string]>): string {
  const dir = join(tmp, `t${dirs++}`);
  mkdirSync(join(dir, 'manifests'), { recursive: true });
  mkdirSync(join(dir, 'images'), { recursive: true });
  for (const [name, [manifest, images]] of Object.entries(projects)) {
    mkdirSync(join(dir, 'manifests', name));
    mkdirSync(join(dir, 'images', name));
    writeFileSync(join(dir, 'manifests', name, 'promoter-manifest.yaml'), manifest);
    writeFileSync(join(dir, 'images', name, 'images.yaml'), images);
  }
  return dir;
}
const registries = (project: string, destinations = 1) => `registries:\n- name: gcr.io/staging-${project}\n  src: true\n${Array.from({ length: destinations }, (_, i) => `- name: r${i}.pkg.dev/prod/${project}\n`).join('')}`;
const good = `- name: app\n  dmap:\n    "${A}": ["v1"]\n`;

test('convert round-trips: the resources read back give the same edges as the thin manifests', async () => {
  for (const dir of [thin, sample]) {
    const r = await run(['convert', dir, '--namespace', 'promo']);
    assert.equal(r.code, 0, r.err);
    const { manifests, errors } = parsePromotionManifests('stdout', r.out);
    assert.deepEqual(errors, []);
    assert.ok(manifests.every((m) => m.namespace === 'promo'));
    const loaded = await loadManifests(dir);
    assert.deepEqual(keys(expandRun(manifests.map((m) => m.spec))), keys(expandRun(loaded.specs.map((m) => m.spec))), dir);
  }
  const bom = await run(['convert', thin]);
  assert.match(bom.err, /service-account is not carried over/);
  assert.match(bom.err, /converted 2 projects into 2 resources\n$/);
});

test('convert writes every project of the real sample, the empty one too, and validate accepts them', async () => {
  const out = join(tmp, 'sample-out');
  const r = await run(['convert', sample, '--output-dir', out]);
  assert.equal(r.code, 0, r.err);
  assert.equal(readdirSync(out).length, 21);
  assert.match(readFileSync(join(out, 'k8s-staging-llm-instance-gateway.yaml'), 'utf8'), /images: \[\]/);
  const v = await run(['validate', out]);
  assert.equal(v.code, 0, v.err);
  assert.match(v.out, /^ok: 21 manifests, 3,124 edges\n$/);
});

test('convert is deterministic: src registry first, digests sorted, same bytes every run', async () => {
  const [a, b] = [await run(['convert', thin]), await run(['convert', thin])];
  assert.equal(a.out, b.out);
  const bom = a.out.split('---\n')[0]!;
  assert.match(bom, /registries:\n {4}- name: gcr\.io\/k8s-staging-bom\n {6}src: true\n/);
  const digests = [...bom.matchAll(/(sha256:[0-9a-f]{64}): \[ (\S+) \]/g)].map((m) => m[1]!);
  assert.equal(digests.length, 6);
  assert.deepEqual(digests, [...digests].sort());
  assert.doesNotMatch(bom, /namespace:/);
});

test('convert quotes tags YAML would read as numbers or booleans', async () => {
  const dir = thinDir({ p: [registries('p'), `- name: app\n  dmap:\n    "${A}": [1.0, "on", v1]\n`] });
  const r = await run(['convert', dir]);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /: \[ "1\.0", "on", v1 \]/);
  assert.deepEqual(parsePromotionManifests('x', r.out).manifests[0]!.spec.images[0]!.dmap[A], ['1.0', 'on', 'v1']);
});

test('convert splits a project too large for one resource into self-contained <project>-1..n', async () => {
  // 70 destinations and 600 images of 8 digests: ~0.6 MB of JSON, as registry.k8s.io's largest.
  const images = Array.from({ length: 600 }, (_, i) => `- name: image-${i}\n  dmap:\n${Array.from({ length: 8 }, (_, d) => `    "sha256:${(i * 8 + d).toString(16).padStart(64, '0')}": ["v1.${d}.0", "v1.${d}"]\n`).join('')}`).join('');
  // One image bigger than a resource on its own.
  const huge = `- name: huge\n  dmap:\n${Array.from({ length: 3000 }, (_, d) => `    "sha256:${(100_000 + d).toString(16).padStart(64, '0')}": ["v9.${d}.0"]\n`).join('')}`;
  const dir = thinDir({ big: [registries('big', 70), images + huge], small: [registries('small'), good] });
  const out = join(tmp, 'split-out');
  const r = await run(['convert', dir, '--output-dir', out]);
  assert.equal(r.code, 0, r.err);
  const files = readdirSync(out).sort();
  const parts = files.filter((f) => f.startsWith('big-'));
  assert.ok(parts.length >= 4, `split into ${parts.length}`);
  assert.deepEqual(parts.map((f) => f), Array.from({ length: parts.length }, (_, i) => `big-${i + 1}.yaml`).sort());
  assert.ok(files.includes('small.yaml'));
  assert.match(r.err, new RegExp(`converted 2 projects into ${parts.length + 1} resources \\(split: big into ${parts.length}\\)`));
  for (const f of parts) {
    const text = readFileSync(join(out, f), 'utf8');
    const { manifests, errors } = parsePromotionManifests(f, text);
    assert.deepEqual(errors, []);
    // What client-side kubectl apply keeps in its last-applied annotation: the object as JSON.
    const json = JSON.stringify(parseYaml(text));
    assert.ok(Buffer.byteLength(json) <= resourceBudgetBytes, `${f}: ${Buffer.byteLength(json)} bytes`);
    assert.equal(manifests[0]!.spec.registries.length, 71, `${f} carries every registry`);
  }
  // Together the parts are the project, edge for edge. Edges are every registry set's
  // destinations times its dmap entries, so comparing (registry set, entry) pairs compares the
  // edges without spelling out all 550,000 of them.
  const v = await run(['validate', out]);
  assert.equal(v.code, 0, v.err);
  const converted = await loadManifests(out);
  const original = await loadManifests(dir);
  assert.deepEqual(entryKeys(converted.specs.map((m) => m.spec)), entryKeys(original.specs.map((m) => m.spec)));
  assert.deepEqual(keys(expandRun(converted.specs.map((m) => m.spec).filter((spec) => spec.registries.length < 10))), keys(expandRun(original.specs.map((m) => m.spec).filter((spec) => spec.registries.length < 10))), 'and the small project expands to the same edges');
});

test('one bad project never blocks the others: validate lists every problem, convert and plan go on', async () => {
  const dir = thinDir({
    good: [registries('good'), good],
    'bad-registry': [`${registries('bad-registry')}  region: us\n`, good],
    'bad-digest': [registries('bad-digest'), `${good}    "sha256:${'b'.repeat(63)}": ["v2"]\n`],
  });
  const v = await run(['validate', dir]);
  assert.equal(v.code, 1);
  assert.equal(v.out, '');
  assert.deepEqual(v.err.trim().split('\n'), [
    `${dir}/images/bad-digest/images.yaml:4:5: [0].dmap["sha256:${'b'.repeat(63)}"]: "sha256:${'b'.repeat(63)}" is not a digest: sha256: followed by 64 lowercase hex digits; this entry is skipped — fix or remove it`,
    `${dir}/manifests/bad-registry/promoter-manifest.yaml:5:3: registries[1].region: unknown field "region"; allowed here: name, src, service-account — check the spelling or remove it`,
    'error: 1 manifest refused (bad-registry); 1 entry refused; the rest of its manifest goes on',
  ]);
  const plan = await run(['plan', '--parse-only', '-o', 'json', '--thin-manifest-dir', dir]);
  assert.equal(plan.code, 3);
  const data = JSON.parse(plan.out);
  assert.deepEqual(data.edges.map((e: { source: string }) => e.source), ['gcr.io/staging-bad-digest/app', 'gcr.io/staging-good/app']);
  assert.deepEqual(data.refused, [{ source: `${dir}/manifests/bad-registry/promoter-manifest.yaml`, name: 'bad-registry', reasons: ['UnknownField'] }]);
  assert.deepEqual(data.problems.map((p: { reason: string; scope: string }) => `${p.reason} ${p.scope}`), ['InvalidDigest entry', 'UnknownField manifest']);
  const c = await run(['convert', dir]);
  assert.equal(c.code, 3);
  assert.deepEqual(parsePromotionManifests('x', c.out).manifests.map((m) => m.name), ['bad-digest', 'good']);
  assert.match(c.err, /converted 2 projects into 2 resources; not converted: bad-registry\n$/);
});

test('two projects giving one destination tag to two digests: those entries are refused in both', async () => {
  const shared = (p: string) => `registries:\n- name: gcr.io/staging-${p}\n  src: true\n- name: r.pkg.dev/prod/shared\n`;
  const dir = thinDir({ one: [shared('one'), good], two: [shared('two'), `- name: app\n  dmap:\n    "sha256:${'b'.repeat(64)}": ["v1"]\n    "sha256:${'c'.repeat(64)}": ["v2"]\n`] });
  const v = await run(['validate', dir]);
  assert.equal(v.code, 1);
  assert.match(v.err, /images\/one\/images\.yaml:3:5: tag "v1" of r\.pkg\.dev\/prod\/shared\/app is also given to sha256:b{64} in .*images\/two\/images\.yaml:3; one destination tag names one digest/);
  const plan = await run(['plan', '--parse-only', '-o', 'yaml', '--thin-manifest-dir', dir]);
  assert.equal(plan.code, 3);
  assert.match(plan.out, /\nedges:\n {2}- \{"source":"gcr\.io\/staging-two\/app","digest":"sha256:c{64}","destination":"r\.pkg\.dev\/prod\/shared\/app","tags":\["v2"\]\}\n$/);
});

test('plan --parse-only -o json prints the edges as data, one per line; the same edge from two projects once', async () => {
  const shared = (p: string) => `registries:\n- name: gcr.io/staging\n  src: true\n- name: r.pkg.dev/prod-${p}\n- name: r.pkg.dev/prod-shared\n`;
  const dir = thinDir({ one: [shared('one'), good], two: [shared('two'), `- name: app\n  dmap:\n    "${A}": ["v1", "stable"]\n`] });
  const r = await run(['plan', '--parse-only', '-o', 'json', '--thin-manifest-dir', dir]);
  assert.equal(r.code, 0, r.err);
  const lines = r.out.split('\n').filter((l) => l.includes('"digest"'));
  assert.deepEqual(lines.map((l) => JSON.parse(l.replace(/,$/, ''))), [
    { source: 'gcr.io/staging/app', digest: A, destination: 'r.pkg.dev/prod-one/app', tags: ['v1'] },
    { source: 'gcr.io/staging/app', digest: A, destination: 'r.pkg.dev/prod-shared/app', tags: ['v1', 'stable'] },
    { source: 'gcr.io/staging/app', digest: A, destination: 'r.pkg.dev/prod-two/app', tags: ['v1', 'stable'] },
  ]);
  assert.equal(JSON.parse(r.out).manifests.length, 2);
  const table = await run(['plan', '--parse-only', '--thin-manifest-dir', dir]);
  assert.equal(table.out, 'ok: 2 manifests, 4 edges\n');
});

test('validate accepts a thin-manifest directory, a plain manifest and a resource stream; warnings do not fail it', async () => {
  const t = await run(['validate', thin]);
  assert.equal(t.code, 0);
  assert.equal(t.out, 'ok: 2 manifests, 122 edges\n');
  const p = await run(['validate', 'test/fixtures/manifests/plain.yaml']);
  assert.equal(p.out, 'ok: 1 manifest, 4 edges\n');
  const stream = await run(['convert', thin]);
  writeFileSync(join(tmp, 'all.yaml'), stream.out);
  const r = await run(['validate', join(tmp, 'all.yaml')]);
  assert.equal(r.out, 'ok: 2 manifests, 122 edges\n');
  const s = await run(['validate', sample]);
  assert.equal(s.code, 0);
  assert.equal(s.out, 'ok: 21 manifests, 3,124 edges (4 warnings)\n');
  assert.match(s.err, /k8s-staging-etcdadm\/images\.yaml:13:9: warning: \[3\]\.name: image "etcd-backup" is listed 16 times \(lines 2, 13, 24,/);
});

test('validate prints located errors like a compiler and exits 1', async () => {
  const r = await run(['validate', 'test/fixtures/manifests/broken-resource.yaml']);
  assert.equal(r.code, 1);
  assert.equal(r.out, '');
  assert.deepEqual(r.err.trim().split('\n'), [
    'test/fixtures/manifests/broken-resource.yaml:10:12: spec.registries[1].src: a second source registry "gcr.io/prod" (the first is "gcr.io/staging" at line 8); a manifest has exactly one src registry — set src: false on all but one',
    'error: 1 manifest refused (app)',
  ]);
});

test('hostile input (issue 12): symlinks out, FIFOs, directories named x.yaml, devices, huge files, empty directories', async () => {
  const outside = join(tmp, 'secret.txt');
  writeFileSync(outside, 'registries: s3cr3t-value-that-must-not-be-echoed\n');
  const dir = thinDir({ good: [registries('good'), good], linked: [registries('linked'), good] });
  rmSync(join(dir, 'images', 'linked', 'images.yaml'));
  symlinkSync(outside, join(dir, 'images', 'linked', 'images.yaml'));
  const v = await run(['validate', dir]);
  assert.equal(v.code, 1);
  assert.match(v.err, /images\/linked\/images\.yaml:1:1: resolves \(through a symbolic link\) to a file outside .*; manifests are read only from inside the directory given/);
  assert.doesNotMatch(v.err, /s3cr3t/);
  // A symlinked project directory is refused, not silently skipped.
  cpSync(join(dir, 'manifests', 'good'), join(tmp, 'elsewhere'), { recursive: true });
  symlinkSync(join(tmp, 'elsewhere'), join(dir, 'manifests', 'aliased'));
  const p = await run(['plan', '--parse-only', '--thin-manifest-dir', dir]);
  assert.equal(p.code, 3);
  assert.match(p.err, /manifests\/aliased:1:1: project "aliased" is a symbolic link to a directory/);

  // A directory of manifests: a FIFO, a directory named x.yaml; /dev/zero given directly.
  const plain = join(tmp, 'plain');
  mkdirSync(join(plain, 'x.yaml'), { recursive: true });
  execFileSync('mkfifo', [join(plain, 'a.yaml')]);
  writeFileSync(join(plain, 'ok.yaml'), readFileSync('test/fixtures/manifests/plain.yaml'));
  const f = await run(['validate', plain]);
  assert.equal(f.code, 1);
  assert.match(f.err, new RegExp(`${plain}/a\\.yaml:1:1: is a FIFO \\(named pipe\\), not a manifest file`));
  assert.match(f.err, new RegExp(`${plain}/x\\.yaml:1:1: is a directory, not a manifest file`));
  const z = await run(['validate', '/dev/zero']);
  assert.equal(z.code, 1);
  assert.match(z.err, /^\/dev\/zero:1:1: is a device, not a manifest file/);

  const big = join(tmp, 'big.yaml');
  writeFileSync(big, `registries: []\n#${'x'.repeat(maxManifestFileBytes)}\n`);
  const b = await run(['validate', big]);
  assert.equal(b.code, 1);
  assert.match(b.err, /big\.yaml:1:1: the file is 8\.0 MiB; manifest files are read up to 8\.0 MiB — split the project into several/);

  // Nothing to promote is an error for every command, not "0 edges".
  const emptyThin = thinDir({});
  const emptyPlain = join(tmp, 'empty');
  mkdirSync(emptyPlain);
  for (const target of [emptyThin, emptyPlain]) {
    for (const args of [['validate', target], ['plan', '--parse-only', '--thin-manifest-dir', target], ['promote', '--thin-manifest-dir', target]]) {
      const e = await run(args);
      assert.equal(e.code, 1, args.join(' '));
      assert.match(e.err, /NoManifests|no projects|no manifests here/, args.join(' '));
    }
  }
});

test('exit codes: 2 for bad usage (arguments, a path that does not exist), 1 for manifests that are wrong', async () => {
  for (const args of [['convert'], ['validate'], ['validate', 'a', 'b'], ['validate', 'no/such/file.yaml'], ['convert', thin, '--namespace', 'Bad_NS'], ['plan', '--parse-only', '-o', 'xml', thin]]) {
    const r = await run(args);
    assert.equal(r.code, 2, args.join(' '));
    assert.match(r.err, /Run 'hoist (convert|validate|plan) --help' for usage/);
  }
  assert.equal((await run(['validate', 'test/fixtures/manifests/thin-broken'])).code, 1);
  // A folder of kpromo manifests converts file by file; the broken resource beside them is refused (3).
  const mixed = await run(['convert', 'test/fixtures/manifests']);
  assert.equal(mixed.code, 3, mixed.err);
  assert.match(mixed.out, /name: plain\n/);
  assert.match(mixed.err, /converted 1 manifest into 1 resource; not converted: app/);
  mkdirSync(join(tmp, 'empty-for-convert'));
  assert.equal((await run(['convert', join(tmp, 'empty-for-convert')])).code, 1);
});

test('a linked directory on the way out of the tree is refused too, unread', async () => {
  const elsewhere = join(tmp, 'elsewhere-images');
  mkdirSync(elsewhere);
  writeFileSync(join(elsewhere, 'images.yaml'), '- name: s3cr3t-image-name\n  dmap: {}\n');
  const dir = thinDir({ good: [registries('good'), good], linked: [registries('linked'), good] });
  rmSync(join(dir, 'images', 'linked'), { recursive: true });
  symlinkSync(elsewhere, join(dir, 'images', 'linked'));
  const v = await run(['validate', dir]);
  assert.equal(v.code, 1);
  assert.match(v.err, /images\/linked\/images\.yaml:1:1: resolves \(through a symbolic link\) to a file outside/);
  assert.doesNotMatch(v.err, /s3cr3t/);
});
