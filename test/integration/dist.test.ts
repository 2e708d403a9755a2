// The container image runs the compiled dist/ with no sources beside it (see Dockerfile). This
// builds dist/ the way the image does, lays it out as the image does, and runs commands from
// it, so a source-only construct (a .ts import that is not rewritten, a file read relative to
// src/) fails here rather than in a cluster.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';

const run = promisify(execFile);
const root = resolve(import.meta.dirname, '../..');

test('the compiled dist/ runs hoist without src/', async () => {
  const app = mkdtempSync(join(tmpdir(), 'hoist-dist-'));
  try {
    await run(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(root, 'tsconfig.build.json'), '--outDir', join(app, 'dist')]);
    mkdirSync(join(app, 'bin'));
    cpSync(join(root, 'bin/hoist.js'), join(app, 'bin/hoist.js'));
    cpSync(join(root, 'package.json'), join(app, 'package.json'));
    symlinkSync(join(root, 'node_modules'), join(app, 'node_modules'));
    const hoist = (...args: string[]) => run(process.execPath, [join(app, 'bin/hoist.js'), ...args], { cwd: app });

    assert.match((await hoist('version')).stdout, /^hoist 0\.\d+\.\d+ /);
    assert.match((await hoist('controller', '--help')).stdout, /--leader-elect/);
    const validated = await hoist('validate', join(root, 'test/fixtures/kpromo/thin'));
    assert.match(validated.stdout, /^ok: 2 manifests, 122 edges/);
  } finally {
    rmSync(app, { recursive: true, force: true });
  }
});
