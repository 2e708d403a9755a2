// `hoist completion bash|zsh|fish` (issue 17.13) in the real shells: commands, flags of the
// command being typed, output formats, and PromotionManifest names from `hoist get -o name`
// (a stand-in `hoist` on the PATH records how it was asked; the real `hoist get -o name` is
// tested against an API server in resource-commands.test.ts).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { main } from '../../src/cli/main.ts';
import { tool } from '../support/testbed.ts';

async function script(shell: string): Promise<string> {
  let out = '';
  const sink = new Writable({ write(chunk, _enc, done) { out += String(chunk); done(); } });
  const code = await main(['completion', shell], { out: sink, err: sink });
  assert.equal(code, 0, out);
  return out;
}

describe('hoist completion', () => {
  let dir: string;
  let env: NodeJS.ProcessEnv;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'hoist-completion-'));
    // The stand-in answers `hoist get -o name` as the real one does, and logs its arguments.
    writeFileSync(join(dir, 'hoist'), `#!/bin/sh\necho "$@" >> ${join(dir, 'calls')}\nprintf 'promotionmanifest.hoist.dev/bom\\npromotionmanifest.hoist.dev/kube-proxy\\n'\n`);
    chmodSync(join(dir, 'hoist'), 0o755);
    env = { ...process.env, PATH: `${dir}:${process.env.PATH}`, HOME: dir };
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  /** What bash completes for `line` (the cursor at its end). */
  function bash(file: string, line: string): string[] {
    const words = line.split(' ');
    const out = execFileSync('bash', ['--norc', '-c', `source ${file}; COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _hoist; printf '%s\\n' "\${COMPREPLY[@]}"`], { env, encoding: 'utf8' });
    return out.split('\n').filter(Boolean);
  }

  test('bash: commands, the flags of the command typed, formats, names from hoist get', async () => {
    const file = join(dir, 'hoist.bash');
    writeFileSync(file, await script('bash'));
    execFileSync('bash', ['-n', file]);
    assert.deepEqual(bash(file, 'hoist pl'), ['plan']);
    assert.deepEqual(bash(file, 'hoist re').sort(), ['reconcile', 'replicate', 'resume']);
    assert.deepEqual(bash(file, 'hoist plan --di'), ['--diff']);
    assert.deepEqual(bash(file, 'hoist plan --con'), [], 'plan has no --confirm or --concurrency');
    assert.deepEqual(bash(file, 'hoist promote --con').sort(), ['--concurrency', '--confirm']);
    assert.deepEqual(bash(file, 'hoist plan -o '), ['table', 'json', 'yaml']);
    assert.deepEqual(bash(file, 'hoist get -o '), ['wide', 'name', 'json', 'yaml']);
    assert.deepEqual(bash(file, 'hoist completion '), ['bash', 'zsh', 'fish']);
    assert.deepEqual(bash(file, 'hoist reconcile -n releng k'), ['kube-proxy']);
    assert.match(readFileSync(join(dir, 'calls'), 'utf8'), /^get -o name -n releng$/m, 'the namespace typed is asked for');
    assert.ok(bash(file, 'hoist controller --leader').includes('--leader-elect'), 'the controller\'s flags, read from its usage');
  });

  test('zsh: the same function through bashcompinit', async () => {
    const file = join(dir, '_hoist');
    writeFileSync(file, await script('zsh'));
    execFileSync(tool('zsh'), ['-n', file]);
    const complete = (line: string) => {
      const words = line.split(' ');
      const out = execFileSync(tool('zsh'), ['-f', '-c', `autoload -U compinit && compinit -u -D; source ${file}; `
        + `COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; emulate sh -c _hoist; print -l -- "\${COMPREPLY[@]}"`], { env, encoding: 'utf8' });
      // zsh's bashcompinit leaves matching the typed prefix to zsh itself (compadd), as here.
      return out.split('\n').filter((w) => w && w.startsWith(words.at(-1)!));
    };
    assert.deepEqual(complete('hoist pl'), ['plan']);
    assert.deepEqual(complete('hoist plan --di'), ['--diff']);
    assert.deepEqual(complete('hoist suspend '), ['bom', 'kube-proxy']);
    const registered = execFileSync(tool('zsh'), ['-f', '-c', `autoload -U compinit && compinit -u -D; source ${file}; print -- $_comps[hoist]`], { env, encoding: 'utf8' });
    assert.match(registered, /_bash_complete/);
  });

  test('fish: complete -C lists commands with their summaries, flags and names', async () => {
    const file = join(dir, 'hoist.fish');
    writeFileSync(file, await script('fish'));
    execFileSync(tool('fish'), ['--no-execute', file]);
    const complete = (line: string) => execFileSync(tool('fish'), ['--no-config', '-c', `source ${file}; complete -C '${line}'`], { env, encoding: 'utf8' })
      .split('\n').filter(Boolean);
    assert.ok(complete('hoist pl').some((l) => /^plan\tShow what a promotion would do/.test(l)));
    assert.deepEqual(complete('hoist plan --di').map((l) => l.split('\t')[0]), ['--diff']);
    assert.deepEqual(complete('hoist plan -o ').map((l) => l.split('\t')[0]), ['json', 'table', 'yaml']);
    assert.deepEqual(complete('hoist reconcile ').map((l) => l.split('\t')[0]), ['bom', 'kube-proxy']);
    assert.deepEqual(complete('hoist completion ').map((l) => l.split('\t')[0]).sort(), ['bash', 'fish', 'zsh']);
  });
});
