// examples/ and docs/ci.md against real parts: the GitOps folder goes in with client-side
// kubectl apply (Argo CD's default sync) on a real API server, and the plain CI snippet of
// docs/ci.md runs as written in a git repository whose branch changes a promotion, planned
// against real registries.
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { applyCrd, kubectl } from '../support/controller.ts';
import { buildImage, pushImage } from '../support/images.ts';
import { startKube, type TestKube } from '../support/kube.ts';
import { startRegistry, type TestRegistry } from '../support/registry.ts';

const repo = new URL('../..', import.meta.url).pathname;
const tmp = mkdtempSync(join(tmpdir(), 'hoist-examples-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

describe('the GitOps folder on a real API server', () => {
  let kube: TestKube;
  before(async () => {
    kube = await startKube();
    await applyCrd(kube);
  });
  after(() => kube?.stop());

  test('examples/gitops/promotions applies with client-side kubectl apply, as Argo CD syncs it', async () => {
    await kubectl(kube, ['create', 'namespace', 'releng']);
    const out = await kubectl(kube, ['apply', '-f', join(repo, 'examples/gitops/promotions')]);
    assert.match(out, /promotionmanifest\.hoist\.dev\/bom created/);
    assert.match(out, /promotionmanifest\.hoist\.dev\/k8s-staging-zeitgeist created/);
    const items = (JSON.parse(await kubectl(kube, ['get', 'pm', '-n', 'releng', '-o', 'json'])) as { items: { metadata: { annotations: Record<string, string> } }[] }).items;
    assert.equal(items.length, 2);
    for (const item of items) assert.ok(item.metadata.annotations['kubectl.kubernetes.io/last-applied-configuration']);
  });
});

describe('docs/ci.md, the plain snippet, in a pull request\'s checkout', () => {
  let staging: TestRegistry;
  let prod: TestRegistry;
  before(async () => { [staging, prod] = await Promise.all([startRegistry(), startRegistry()]); });
  after(() => Promise.all([staging.stop(), prod.stop()]));

  test('validate and plan --diff against the base branch: exit 0 for a good change, 3 for one that moves a production tag', async () => {
    const [a, b, other] = [buildImage(), buildImage(), buildImage()];
    await pushImage(staging, 'staging/app', a);
    await pushImage(staging, 'staging/app', b);
    await pushImage(prod, 'releases/app', a, ['v1']);
    await pushImage(prod, 'releases/app', other, ['v3']);

    const checkout = join(tmp, 'releng');
    mkdirSync(join(checkout, 'promotions'), { recursive: true });
    const git = (...args: string[]) => execFileSync('git', ['-c', 'user.name=ci', '-c', 'user.email=ci@example', '-c', 'init.defaultBranch=main', ...args], { cwd: checkout, stdio: ['ignore', 'pipe', 'pipe'] });
    const manifest = (dmap: string) => `registries:\n- name: ${staging.host}/staging\n  src: true\n- name: ${prod.host}/releases\nimages:\n- name: app\n  dmap:\n${dmap}`;
    git('init', '-q');
    writeFileSync(join(checkout, 'promotions', 'app.yaml'), manifest(`    "${a.digest}": ["v1"]\n`));
    git('add', '.');
    git('commit', '-q', '-m', 'v1');
    git('checkout', '-q', '-b', 'promote-v2');
    writeFileSync(join(checkout, 'promotions', 'app.yaml'), manifest(`    "${a.digest}": ["v1"]\n    "${b.digest}": ["v2"]\n`));
    git('commit', '-q', '-am', 'v2');

    // $HOME/hoist is where the snippet's clone step puts hoist: here, this checkout.
    const home = join(tmp, 'home');
    mkdirSync(home);
    symlinkSync(repo, join(home, 'hoist'));
    const snippet = /<!-- ci: plain -->\n```sh\n([\s\S]*?)\n```/.exec(readFileSync(join(repo, 'docs', 'ci.md'), 'utf8'))![1]!;
    const run = (script: string) => promisify(execFile)('bash', ['-eo', 'pipefail', '-c', script], {
      cwd: checkout, encoding: 'utf8', env: { ...process.env, HOME: home, BASE_REF: 'main', PATH: `${join(repo, 'node_modules', '.bin')}:${process.env.PATH}` },
    }).then(({ stdout }) => ({ code: 0, stdout }), (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: `${e.stdout}\n${e.stderr}` }));

    const good = await run(snippet);
    assert.equal(good.code, 0, good.stdout);
    assert.match(good.stdout, /^ok: 1 manifest, 2 edges$/m);
    assert.match(good.stdout, /^ADD\s+\S+\/releases\/app\s+\w{12}\s+v2\s+PROMOTE\s+would be promoted$/m);

    writeFileSync(join(checkout, 'promotions', 'app.yaml'), manifest(`    "${a.digest}": ["v1"]\n    "${b.digest}": ["v2", "v3"]\n`));
    git('commit', '-q', '-am', 'v3 too');
    const moving = await run(snippet);
    assert.equal(moving.code, 3, moving.stdout);
    assert.match(moving.stdout, /^ADD\s+\S+\/releases\/app\s+\w{12}\s+v2,v3\s+TAGMOVE\s/m);
  });
});
