// `hoist convert` on a single kpromo manifest (issue 17.9): the demo's own manifest.yaml, a
// promoter-manifest.yaml, --name, JSON output, and what it refuses.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, test } from 'node:test';
import { main } from '../../src/cli/main.ts';
import { loadManifests } from '../../src/manifest/load.ts';
import { expandRun } from '../../src/manifest/model.ts';

async function run(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const text = { out: '', err: '' };
  const sink = (key: 'out' | 'err') => new Writable({ write(chunk, _enc, done) { text[key] += String(chunk); done(); } });
  const code = await main(args, { out: sink('out'), err: sink('err') });
  return { code, ...text };
}

const tmp = mkdtempSync(join(tmpdir(), 'hoist-cli-convert-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

const A = `sha256:${'a'.repeat(64)}`;
const B = `sha256:${'b'.repeat(64)}`;
const kpromo = `registries:
- name: 127.0.0.1:5000/staging
  src: true
- name: 127.0.0.1:5001/releases
- name: 127.0.0.1:5002/releases
images:
- name: hello
  dmap:
    "${A}": ["v1.0.0"]
- name: tools/kubectl-plugin
  dmap:
    "${B}": ["v0.3.1", "v0.3"]
`;

test('convert manifest.yaml: one PromotionManifest named after the file, with the same edges', async () => {
  const file = join(tmp, 'manifest.yaml');
  writeFileSync(file, kpromo);
  const r = await run(['convert', file, '-n', 'releng']);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /^# Converted by hoist convert from .*manifest\.yaml\napiVersion: hoist\.dev\/v1alpha1\nkind: PromotionManifest\nmetadata:\n  name: manifest\n  namespace: releng\n/);
  assert.match(r.err, /converted 1 manifest into 1 resource\n/);
  const out = join(tmp, 'converted.yaml');
  writeFileSync(out, r.out);
  const [before, after] = await Promise.all([loadManifests(file), loadManifests(out)]);
  const keys = (l: typeof before) => expandRun(l.specs.map((s) => s.spec)).map((e) => `${e.dst.host}/${e.dst.name}@${e.digest}:${e.tags.join(',')}`).sort();
  assert.deepEqual(keys(after), keys(before));
  assert.equal(keys(before).length, 4);
});

test('a promoter-manifest.yaml is named after its folder; --name names it; -o json is a List', async () => {
  mkdirSync(join(tmp, 'k8s-staging-bom'));
  const file = join(tmp, 'k8s-staging-bom', 'promoter-manifest.yaml');
  writeFileSync(file, kpromo);
  const folder = await run(['convert', file]);
  assert.equal(folder.code, 0, folder.err);
  assert.match(folder.out, /\n {2}name: k8s-staging-bom\n/);
  const named = await run(['convert', file, '--name', 'bom', '-o', 'json']);
  assert.equal(named.code, 0, named.err);
  const list = JSON.parse(named.out) as { kind: string; items: { kind: string; metadata: { name: string } }[] };
  assert.equal(list.kind, 'List');
  assert.deepEqual(list.items.map((i) => [i.kind, i.metadata.name]), [['PromotionManifest', 'bom']]);
  const dir = join(tmp, 'json-out');
  const files = await run(['convert', file, '--name', 'bom', '-o', 'json', '--output-dir', dir]);
  assert.equal(files.code, 0, files.err);
  assert.equal((JSON.parse(readFileSync(join(dir, 'bom.json'), 'utf8')) as { metadata: { name: string } }).metadata.name, 'bom');
});

test('convert refuses what it cannot do, saying what to do instead', async () => {
  const file = join(tmp, 'one.yaml');
  writeFileSync(file, kpromo);
  const badName = await run(['convert', file, '--name', 'Bad_Name']);
  assert.equal(badName.code, 2);
  assert.match(badName.err, /--name "Bad_Name" is not a valid resource name/);
  const thinName = await run(['convert', 'test/fixtures/kpromo/thin', '--name', 'x']);
  assert.equal(thinName.code, 2);
  assert.match(thinName.err, /thin-manifest projects are named after their folders/);
  const converted = await run(['convert', file]);
  const resource = join(tmp, 'resource.yaml');
  writeFileSync(resource, converted.out);
  const again = await run(['convert', resource]);
  assert.equal(again.code, 2);
  assert.match(again.err, /holds PromotionManifest resources already; convert reads kpromo manifests/);
  const missing = await run(['convert', join(tmp, 'nope.yaml')]);
  assert.equal(missing.code, 2);
  assert.match(missing.err, /no such file or directory/);
});
