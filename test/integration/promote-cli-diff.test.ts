// `hoist plan --diff BASE` (issue 17.14) as PR CI runs it: BASE a git revision read at the
// merge-base, and the change's edges planned against real registries (what would be promoted,
// what is already there, a production tag the change would move, a digest missing in staging).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { main } from '../../src/cli/main.ts';
import { runHoist } from '../support/cli.ts';
import { buildImage, pushImage } from '../support/images.ts';
import { startRegistry, type TestRegistry } from '../support/registry.ts';

async function run(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const text = { out: '', err: '' };
  const sink = (key: 'out' | 'err') => new Writable({ write(chunk, _enc, done) { text[key] += String(chunk); done(); } });
  const code = await main(args, { out: sink('out'), err: sink('err') });
  return { code, ...text };
}

const tmp = mkdtempSync(join(tmpdir(), 'hoist-plan-diff-int-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
const d = (c: string) => `sha256:${c.repeat(64)}`;
const kpromo = (dmap: string, staging = 'staging.example/s', prod = 'prod.example/p') => `registries:
- name: ${staging}
  src: true
- name: ${prod}
images:
- name: app
  dmap:
${dmap}`;

test('plan --diff REVISION reads the same path at the merge-base with HEAD (what the branch changed)', async () => {
  const repo = join(tmp, 'repo');
  mkdirSync(join(repo, 'promotions'), { recursive: true });
  const git = (...args: string[]) => execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@example', '-c', 'init.defaultBranch=main', ...args], { cwd: repo, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  git('init', '-q');
  writeFileSync(join(repo, 'promotions', 'manifest.yaml'), kpromo(`    "${d('a')}": ["v1"]\n`));
  git('add', '.');
  git('commit', '-q', '-m', 'base');
  git('checkout', '-q', '-b', 'change');
  writeFileSync(join(repo, 'promotions', 'manifest.yaml'), kpromo(`    "${d('a')}": ["v1"]\n    "${d('b')}": ["v2"]\n`));
  git('commit', '-q', '-am', 'add v2');
  // main moves on after the branch point: its later change must not show as this branch's.
  git('checkout', '-q', 'main');
  writeFileSync(join(repo, 'promotions', 'manifest.yaml'), kpromo(`    "${d('a')}": ["v1"]\n    "${d('c')}": ["v9"]\n`));
  git('commit', '-q', '-am', 'main adds v9');
  git('checkout', '-q', 'change');
  const mergeBase = git('merge-base', 'main', 'HEAD').trim();

  const r = await run(['plan', join(repo, 'promotions'), '--diff', 'main', '--parse-only', '-o', 'json']);
  assert.equal(r.code, 0, r.err);
  const data = JSON.parse(r.out) as { base: { ref: string; revision: string }; changes: { digest: string }[]; removed: unknown[] };
  assert.equal(data.base.revision, mergeBase);
  assert.match(data.base.ref, new RegExp(`^main \\(merge-base ${mergeBase.slice(0, 12)}\\)$`));
  assert.deepEqual(data.changes.map((c) => c.digest), [d('b')]);
  assert.deepEqual(data.removed, [], 'main\'s own v9 is not removed by this branch');

  // A folder new on the branch: everything in it is added.
  cpSync(join(repo, 'promotions'), join(repo, 'new-folder'), { recursive: true });
  const fresh = await run(['plan', join(repo, 'new-folder'), '--diff', 'main', '--parse-only']);
  assert.equal(fresh.code, 0, fresh.err);
  assert.match(fresh.out, /2 edges added, 0 retagged, 0 tags moved, 0 removed, 0 unchanged/);

  const bad = await run(['plan', join(repo, 'promotions'), '--diff', 'no-such-branch', '--parse-only']);
  assert.equal(bad.code, 2);
  assert.match(bad.err, /--diff no-such-branch: neither a path nor a git revision with a merge-base with HEAD \(in CI, fetch the base branch with its history/);
});

describe('plan --diff against live registries', () => {
  let staging: TestRegistry;
  let prod: TestRegistry;
  before(async () => { [staging, prod] = await Promise.all([startRegistry(), startRegistry()]); });
  after(() => Promise.all([staging.stop(), prod.stop()]));

  test('only the change is planned: a new digest to promote, a tag move refused, a lost digest; exit 3', async () => {
    const [a, b, x] = [buildImage(), buildImage(), buildImage()];
    await pushImage(staging, 's/app', a);
    await pushImage(staging, 's/app', b);
    // Production already has A as v0 (promoted before) and another digest as v1.
    await pushImage(prod, 'p/app', a, ['v0']);
    await pushImage(prod, 'p/app', x, ['v1']);
    const lost = d('e');
    const base = join(tmp, 'live-base');
    const head = join(tmp, 'live-head');
    mkdirSync(base);
    mkdirSync(head);
    writeFileSync(join(base, 'manifest.yaml'), kpromo(`    "${a.digest}": ["v0"]\n`, `${staging.host}/s`, `${prod.host}/p`));
    writeFileSync(join(head, 'manifest.yaml'), kpromo(`    "${a.digest}": ["v0", "v1"]\n    "${b.digest}": ["v2"]\n    "${lost}": ["v3"]\n`, `${staging.host}/s`, `${prod.host}/p`));

    const table = await runHoist(['plan', '-f', head, '--diff', base]);
    assert.equal(table.code, 3, table.stderr);
    const short = (digest: string) => digest.slice(7, 19);
    assert.match(table.stdout, new RegExp(`^TAGS\\s+${prod.host}/p/app\\s+${short(a.digest)}\\s+\\+v1\\s+TAGMOVE\\s+.*v1`, 'm'));
    assert.match(table.stdout, new RegExp(`^ADD\\s+${prod.host}/p/app\\s+${short(b.digest)}\\s+v2\\s+PROMOTE\\s+would be promoted$`, 'm'));
    assert.match(table.stdout, new RegExp(`^ADD\\s+${prod.host}/p/app\\s+${short(lost)}\\s+v3\\s+LOST\\s+`, 'm'));
    assert.match(table.stdout, /against .*live-base: 2 edges added, 1 retagged, 0 tags moved, 0 removed, 0 unchanged/);
    assert.match(table.stdout, /plan of the change: Refused: 1 to promote, 0 already present, 1 tag moves refused, 1 lost/);

    const json = await runHoist(['plan', '-f', head, '--diff', base, '-o', 'json', '-q']);
    assert.equal(json.code, 3, json.stderr);
    const data = JSON.parse(json.stdout) as { outcome: string; summary: { plan: { planned: number } }; changes: { digest: string; plan: { state: string; reason?: string } }[] };
    assert.equal(data.outcome, 'Refused');
    assert.equal(data.summary.plan.planned, 3, 'only the three changed edges were planned');
    assert.deepEqual(data.changes.map((c) => [c.digest, c.plan.state]).sort(), [[a.digest, 'tagMove'], [b.digest, 'promote'], [lost, 'lost']].sort());

    // A change that only adds what production already has: exit 0, "present".
    writeFileSync(join(head, 'manifest.yaml'), kpromo(`    "${a.digest}": ["v0"]\n    "${x.digest}": ["v1"]\n`, `${staging.host}/s`, `${prod.host}/p`));
    await pushImage(staging, 's/app', x);
    const present = await runHoist(['plan', '-f', head, '--diff', base, '-o', 'json', '-q']);
    assert.equal(present.code, 0, present.stderr);
    assert.deepEqual((JSON.parse(present.stdout) as { changes: { plan: { state: string } }[] }).changes.map((c) => c.plan.state), ['present']);
  });
});
