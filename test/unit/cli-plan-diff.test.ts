// `hoist plan --diff BASE --parse-only` (issue 17.14), offline against a folder, as a table and
// as JSON. A git revision as BASE, and the change's edges planned against real registries, are
// in test/integration/promote-cli-diff.test.ts.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, test } from 'node:test';
import { diffEdges } from '../../src/cli/diff.ts';
import { main } from '../../src/cli/main.ts';
import { expandRun, type PromotionSpec } from '../../src/manifest/model.ts';

async function run(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const text = { out: '', err: '' };
  const sink = (key: 'out' | 'err') => new Writable({ write(chunk, _enc, done) { text[key] += String(chunk); done(); } });
  const code = await main(args, { out: sink('out'), err: sink('err') });
  return { code, ...text };
}

const tmp = mkdtempSync(join(tmpdir(), 'hoist-plan-diff-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

const d = (c: string) => `sha256:${c.repeat(64)}`;
const spec = (images: Record<string, Record<string, string[]>>): PromotionSpec => ({
  registries: [{ name: 'staging.example/s', src: true }, { name: 'prod.example/p', src: false }, { name: 'mirror.example/p', src: false }],
  images: Object.entries(images).map(([name, dmap]) => ({ name, dmap })),
});

test('diffEdges: added digests, retagged digests, tags moved to another digest, removed edges', () => {
  const before = expandRun([spec({ app: { [d('a')]: ['v1'], [d('b')]: ['v2'] }, gone: { [d('c')]: ['v1'] } })]);
  const after = expandRun([spec({ app: { [d('a')]: ['v1', 'v1.0'], [d('b')]: ['v2'], [d('e')]: ['v3', 'v1'] } })]);
  const diff = diffEdges(before, after);
  assert.equal(diff.unchanged, 2, 'app@b to both destinations');
  assert.equal(diff.removed.length, 2, 'gone@c from both destinations');
  const rows = diff.changed.map((c) => `${c.change} ${c.edge.dst.host} ${c.edge.digest.slice(7, 8)} +${c.addedTags.join(',')} -${c.removedTags.join(',')} ${c.moves.map((m) => `${m.tag}:${m.from.slice(7, 8)}->${m.to.slice(7, 8)}`).join(',')}`);
  assert.deepEqual(rows.sort(), [
    'add mirror.example e +v3,v1 - v1:a->e',
    'add prod.example e +v3,v1 - v1:a->e',
    'tags mirror.example a +v1.0 - ',
    'tags prod.example a +v1.0 - ',
  ]);
});

const kpromo = (dmap: string) => `registries:
- name: staging.example/s
  src: true
- name: prod.example/p
images:
- name: app
  dmap:
${dmap}`;

test('plan --diff DIR --parse-only: the table and the JSON of a change, exit 3 when it moves a tag', async () => {
  const base = join(tmp, 'base');
  const head = join(tmp, 'head');
  mkdirSync(base);
  mkdirSync(head);
  writeFileSync(join(base, 'manifest.yaml'), kpromo(`    "${d('a')}": ["v1"]\n`));
  writeFileSync(join(head, 'manifest.yaml'), kpromo(`    "${d('a')}": ["v1"]\n    "${d('b')}": ["v2"]\n`));
  const add = await run(['plan', '-f', head, '--diff', base, '--parse-only']);
  assert.equal(add.code, 0, add.err);
  assert.match(add.out, /^CHANGE\s+DESTINATION\s+DIGEST\s+TAGS\s+DETAIL\nADD\s+prod\.example\/p\/app\s+b{12}\s+v2\n/);
  assert.match(add.out, new RegExp(`\\nagainst ${base}: 1 edges added, 0 retagged, 0 tags moved, 0 removed, 1 unchanged\\n$`));

  writeFileSync(join(head, 'manifest.yaml'), kpromo(`    "${d('b')}": ["v1"]\n`));
  const move = await run(['plan', '-f', head, '--diff', base, '--parse-only', '-o', 'json']);
  assert.equal(move.code, 3, move.err);
  const data = JSON.parse(move.out) as { base: { ref: string }; summary: Record<string, number>; changes: { change: string; digest: string; moves: unknown[] }[]; removed: { digest: string }[] };
  assert.equal(data.base.ref, base);
  assert.deepEqual(data.summary, { added: 1, retagged: 0, tagMoves: 1, removed: 1, unchanged: 0 });
  assert.deepEqual(data.changes.map((c) => [c.change, c.digest, c.moves]), [['add', d('b'), [{ tag: 'v1', from: d('a'), to: d('b') }]]]);
  assert.deepEqual(data.removed.map((r) => r.digest), [d('a')]);
  const table = await run(['plan', '-f', head, '--diff', base, '--parse-only']);
  assert.match(table.out, /^MOVE\s+prod\.example\/p\/app\s+b{12}\s+v1\s+moves v1 from a{12}$/m);
  assert.match(table.out, /^REMOVE\s+prod\.example\/p\/app\s+a{12}\s+v1\s+no longer in the manifests; nothing is deleted from the registry$/m);
});
