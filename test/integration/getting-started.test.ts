// The newcomer's path, literally (issue 17, "Done when"): `npm run demo:controller` runs the
// controller against a local API server and registries; with --keep-running, the shell blocks
// of docs/getting-started.md marked `<!-- getting-started: local -->` are run as written in a
// second shell. The only stand-in: `npx hoist` runs bin/hoist.js directly, so the test never
// asks the npm registry for anything. `npm run demo` (the CLI side) runs too.
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, test } from 'node:test';

const repo = new URL('../..', import.meta.url).pathname;
const tmp = mkdtempSync(join(tmpdir(), 'hoist-getting-started-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

/** The marked ```sh blocks of the guide, in order. */
function markedBlocks(markdown: string, marker: string): string[] {
  const blocks: string[] = [];
  const pattern = new RegExp(`<!-- ${marker} -->\\n\`\`\`sh\\n([\\s\\S]*?)\\n\`\`\``, 'g');
  for (const m of markdown.matchAll(pattern)) blocks.push(m[1]!);
  return blocks;
}

function runScript(script: string, args: string[] = [], env: NodeJS.ProcessEnv = {}) {
  const child = spawn(process.execPath, [join(repo, 'scripts', script), ...args], { cwd: repo, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  let out = '';
  let err = '';
  const waiters: { pattern: RegExp; resolve: () => void }[] = [];
  child.stdout.on('data', (d: Buffer) => {
    out += d;
    for (const w of [...waiters]) if (w.pattern.test(out)) { waiters.splice(waiters.indexOf(w), 1); w.resolve(); }
  });
  child.stderr.on('data', (d: Buffer) => { err += d; });
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
  return {
    child, exited, out: () => out, err: () => err,
    waitFor: (pattern: RegExp) => new Promise<void>((resolve, reject) => {
      if (pattern.test(out)) return resolve();
      waiters.push({ pattern, resolve });
      void exited.then(() => setImmediate(() => reject(new Error(`${script} ended before ${pattern}:\n${out}\n${err}`))));
    }),
  };
}

test('getting-started.md, section 1, works as written against npm run demo:controller -- --keep-running', async () => {
  const state = join(tmp, 'state');
  const demo = runScript('demo-controller.ts', ['--keep-running'], { HOIST_DEMO_STATE_DIR: state });
  try {
    await demo.waitFor(/Everything stays up until Ctrl-C/);
    assert.match(demo.out(), /kubectl get pm -n releng -w\n {2}NAME\s+READY/);
    assert.match(demo.out(), /\n {2}hello\s+True\s/);
    assert.match(demo.out(), /Normal\s+Promoted\s+promotionmanifest\/hello/);
    assert.match(demo.out(), /\$ hoist reconcile hello[\s\S]*Ready=True/);

    const guide = readFileSync(join(repo, 'docs', 'getting-started.md'), 'utf8');
    const blocks = markedBlocks(guide, 'getting-started: local');
    assert.equal(blocks.length, 3, 'the guide\'s three blocks for the second terminal');
    assert.match(blocks[0]!, /^source \.hoist-demo\/env$/m);
    const script = [
      'set -euo pipefail',
      `npx() { if [ "$1" = hoist ]; then shift; "${process.execPath}" "${join(repo, 'bin', 'hoist.js')}" "$@"; else command npx "$@"; fi; }`,
      ...blocks.map((b) => b.replace('source .hoist-demo/env', `source ${join(state, 'env')}`)),
    ].join('\n');
    const work = mkdtempSync(join(tmp, 'terminal-'));
    const { stdout } = await promisify(execFile)('bash', ['-c', script], { cwd: work, encoding: 'utf8', env: { ...process.env, DOCKER_CONFIG: '/nonexistent' } })
      .catch((error: { stdout?: string; stderr?: string; message: string }) => {
        throw new Error(`the guide's commands failed: ${error.message}\n${error.stdout}\n${error.stderr}`);
      });
    assert.match(stdout, /^NAME\s+READY\s+PRESENT[\s\S]*\nhello\s+True\s+4\/4\s/m, 'kubectl get pm');
    assert.match(stdout, /^ok: 1 manifest, 1 edge$/m, 'hoist validate first.yaml');
    assert.match(stdout, /promotionmanifest\.hoist\.dev\/first condition met/, 'kubectl wait');
    assert.match(stdout, /^first\s+True\s+1\/1\s/m, 'hoist get first: its one edge present');
    assert.match(stdout, /^suspended releng\/first$/m);
    assert.match(stdout, /^TAGS\s+\S+\/releases\/hello\s+\w{12}\s+\+v1\s+PROMOTE\s+would be promoted$/m, 'hoist plan --diff');
  } finally {
    demo.child.kill('SIGINT');
  }
  assert.equal(await demo.exited, 0, demo.err());
  assert.ok(!existsSync(state), 'the env file is removed when the demo stops');
});

test('npm run demo (the command-line side) promotes, checks and reruns', async () => {
  const demo = runScript('demo.ts');
  assert.equal(await demo.exited, 0, `${demo.out()}\n${demo.err()}`);
  assert.match(demo.out(), /Succeeded: 6 edges, 0 promoted, 6 already present/);
});
