// The progress line on a real terminal (issue 17.10), and Ctrl-C (issue 17.11): `hoist plan`
// runs under `script`, which gives it a pseudo-terminal, against a staging registry behind the
// fault proxy. While the registry makes it wait, the line keeps being redrawn and names the
// host and why; Ctrl-C typed on the terminal ends it with 130 and says nothing was written.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { runHoist } from '../support/cli.ts';
import { startFaultProxy, type FaultProxy } from '../support/fault-proxy.ts';
import { buildImage, pushImage } from '../support/images.ts';
import { startRegistry, type TestRegistry } from '../support/registry.ts';

const hoistBin = new URL('../../bin/hoist.js', import.meta.url).pathname;
const frameStart = '\r\x1b[K';

interface Terminal { output(): string; typed(text: string): void; exited: Promise<number | null>; waitFor(pattern: RegExp): Promise<void> }

/** `hoist args` on a pseudo-terminal (util-linux script); what it draws, and a keyboard. */
function onTerminal(args: string[]): Terminal {
  const command = [process.execPath, hoistBin, ...args].map((a) => `'${a}'`).join(' ');
  const child = spawn('script', ['-qfec', command, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, DOCKER_CONFIG: '/nonexistent', COLUMNS: '250' } });
  let out = '';
  const waiters: { pattern: RegExp; resolve: () => void }[] = [];
  child.stdout.on('data', (chunk: Buffer) => {
    out += chunk.toString('utf8');
    for (const w of [...waiters]) if (w.pattern.test(out)) { waiters.splice(waiters.indexOf(w), 1); w.resolve(); }
  });
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  return {
    output: () => out,
    typed: (text) => { child.stdin.write(text); },
    exited,
    waitFor: (pattern) => (pattern.test(out) ? Promise.resolve() : new Promise((resolve, reject) => {
      waiters.push({ pattern, resolve });
      void exited.then(() => setImmediate(() => reject(new Error(`hoist ended before ${pattern}:\n${JSON.stringify(out)}`))));
    })),
  };
}

/** The live line's frames, in the order drawn. */
const frames = (out: string) => out.split(frameStart).map((f) => f.split(/\r?\n/)[0]!.trim()).filter(Boolean);

describe('hoist plan on a terminal', () => {
  let staging: TestRegistry;
  let prod: TestRegistry;
  let proxy: FaultProxy;
  let dir: string;
  let manifest: string;
  before(async () => {
    [staging, prod] = await Promise.all([startRegistry(), startRegistry()]);
    proxy = await startFaultProxy(staging.url);
    dir = mkdtempSync(join(tmpdir(), 'hoist-tty-'));
    const image = buildImage();
    await pushImage(staging, 'staging/app', image);
    manifest = join(dir, 'manifest.yaml');
    writeFileSync(manifest, `registries:\n- name: ${proxy.host}/staging\n  src: true\n- name: ${prod.host}/releases\nimages:\n- name: app\n  dmap:\n    "${image.digest}": ["v1"]\n`);
  });
  after(async () => {
    await proxy.close();
    await Promise.all([staging.stop(), prod.stop()]);
    rmSync(dir, { recursive: true, force: true });
  });

  test('while the registry says wait, the line is redrawn and names the host, the reason and the requests', async () => {
    proxy.clearRules();
    // Staging answers 429 with Retry-After: 3 twice: the client pauses the host for 3 s each time.
    proxy.addRule({ match: { path: /^\/v2\/staging\// }, times: 2, fault: { kind: 'status', status: 429, headers: { 'retry-after': '3' } } });
    const term = onTerminal(['plan', '-f', manifest]);
    await term.waitFor(/waiting \ds on 127\.0\.0\.1:\d+(\/staging\/app)? \(rate limited, Retry-After\)/);
    const code = await term.exited;
    assert.equal(code, 0, term.output());
    const out = term.output();
    const waiting = frames(out).filter((f) => f.startsWith('Plan') && /waiting/.test(f));
    // The ticker redraws during a 3 s pause: the countdown shows more than one value.
    assert.ok(new Set(waiting.map((f) => /waiting (\d+s)/.exec(f)![1])).size >= 2, `frames during the wait:\n${waiting.join('\n')}`);
    assert.ok(waiting.every((f) => /^Plan {2}\d+ requests/.test(f)), waiting.join('\n'));
    assert.match(out, /PROMOTE\s+127\.0\.0\.1:\d+\/releases\/app:v1/);
    assert.ok(frames(out).some((f) => /retried/.test(f)), 'the retries are counted on the line');
  });

  test('Ctrl-C on the terminal ends the run with 130 and says nothing was written', async () => {
    proxy.clearRules();
    proxy.addRule({ match: { path: /^\/v2\/staging\// }, fault: { kind: 'stallHeaders', ms: Infinity } });
    const term = onTerminal(['plan', '-f', manifest]);
    await term.waitFor(/Plan {2}\d+ requests/);
    term.typed('\x03');
    assert.equal(await term.exited, 130, term.output());
    assert.match(term.output(), /error: interrupted; nothing was written/);
  });

  test('SIGINT without a terminal: 130 too; SIGTERM: 143', async () => {
    proxy.clearRules();
    proxy.addRule({ match: { path: /^\/v2\/staging\// }, fault: { kind: 'stallHeaders', ms: Infinity } });
    for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
      let sent = false;
      const r = await runHoist(['promote', '-f', manifest, '--confirm'], {
        signalWhen: (err) => !sent && /Setup\s+succeeded/.test(err) && (sent = true) ? signal : undefined,
      });
      assert.equal(r.code, code, r.stderr);
      assert.match(r.stderr, new RegExp(`error: ${signal === 'SIGINT' ? 'interrupted' : 'terminated'}; what was copied stays, and a rerun finishes the job`));
    }
  });
});
