import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { main } from '../../src/cli/main.ts';

export function capture(): { io: { out: Writable; err: Writable }; out: () => string; err: () => string } {
  let out = '';
  let err = '';
  const sink = (append: (s: string) => void) => new Writable({ write(chunk, _enc, done) { append(String(chunk)); done(); } });
  return { io: { out: sink((s) => (out += s)), err: sink((s) => (err += s)) }, out: () => out, err: () => err };
}

test('hoist --help lists the commands and exits 0', async () => {
  const c = capture();
  assert.equal(await main(['--help'], c.io), 0);
  assert.match(c.out(), /Usage:\n  hoist <command>/);
  assert.match(c.out(), /version\s+Print the version/);
});

test('hoist with no command prints help and exits 2, like kubectl', async () => {
  const c = capture();
  assert.equal(await main([], c.io), 2);
  assert.match(c.out(), /Commands:/);
});

test('hoist version prints the package version, as text and as JSON', async () => {
  const c = capture();
  assert.equal(await main(['version'], c.io), 0);
  assert.match(c.out(), /^hoist \d+\.\d+\.\d+ \(node v24\./);
  const j = capture();
  assert.equal(await main(['version', '--output', 'json'], j.io), 0);
  assert.equal(JSON.parse(j.out()).version, '0.1.0');
});

test('an unknown command or flag is a usage error naming it', async () => {
  const c = capture();
  assert.equal(await main(['promoet'], c.io), 2);
  assert.match(c.err(), /unknown command "promoet"/);
  const f = capture();
  assert.equal(await main(['version', '--bogus'], f.io), 2);
  assert.match(f.err(), /bogus/);
});
