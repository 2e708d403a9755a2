// How a person starts hoist from a checkout (issue 17.11): `npx hoist` after `npm ci` runs
// this package's own bin on the pinned Node 24, even from a shell whose `node` is another
// version, and asks the npm registry for nothing (--offline would fail if it tried).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { delimiter, join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';

const root = new URL('../..', import.meta.url).pathname;

test('npx hoist in the checkout runs bin/hoist.js on the pinned Node 24', async () => {
  // A user's shell: npm scripts' node_modules/.bin is not on its PATH.
  const PATH = (process.env.PATH ?? '').split(delimiter).filter((p) => !p.includes(join('node_modules', '.bin'))).join(delimiter);
  const { stdout } = await promisify(execFile)('npx', ['--offline', 'hoist', 'version', '-o', 'json'], { cwd: join(root, 'docs'), env: { ...process.env, PATH }, encoding: 'utf8' })
    .catch((error: NodeJS.ErrnoException & { stderr?: string }) => {
      throw new Error(error.code === 'ENOENT' ? 'npx is not on the PATH: install npm (it comes with Node.js)' : `npx hoist failed: ${error.message}\n${error.stderr}`);
    });
  const info = JSON.parse(stdout) as { version: string; node: string };
  assert.equal(info.version, '0.1.0');
  assert.match(info.node, /^v24\./);
});
