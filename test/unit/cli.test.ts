import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { main } from '../../src/cli/main.ts';
import { trustFromFlags } from '../../src/cli/trust.ts';

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

test('unknown and misused flags get a message in our words, never Node\'s parseArgs text', async () => {
  const cases: [string[], RegExp][] = [
    [['plan', '--bogus', 'x.yaml'], /Error: unknown flag --bogus for "hoist plan"\n/],
    [['plan', '--outptu', 'json', 'x.yaml'], /unknown flag --outptu for "hoist plan"; did you mean --output\?/],
    [['plan', '--confirm', 'x.yaml'], /--confirm is not a flag of "hoist plan": plan never writes; run hoist promote --confirm/],
    [['plan', '--key', 'k', 'x.yaml'], /--key is not a flag of "hoist plan": plan signs nothing/],
    [['promote', 'x.yaml', '-o'], /flag -o needs a value/],
    [['plan', '--quiet=yes', 'x.yaml'], /flag --quiet takes no value/],
    [['version', 'extra'], /unexpected argument "extra"/],
    [['get', '--watch=1'], /flag --watch takes no value/],
    // The controller parses its own flags (node:util directly); main.ts words its errors the same way.
    [['controller', '--bogus'], /Error: unknown flag --bogus\n/],
    [['--bogus'], /unknown flag --bogus; flags come after the command/],
  ];
  for (const [args, expected] of cases) {
    const c = capture();
    assert.equal(await main(args, c.io), 2, args.join(' '));
    assert.match(c.err(), expected, args.join(' '));
    assert.match(c.err(), /Run 'hoist( [a-z]+)? --help' for usage/);
    assert.doesNotMatch(c.err(), /To specify a positional argument|ERR_PARSE_ARGS|Unknown option/, args.join(' '));
  }
});

async function helpOf(command: string): Promise<string> {
  const c = capture();
  assert.equal(await main([command, '--help'], c.io), 0);
  return c.out();
}

test('--help lists the flags each command takes, and plan lists only what plan uses', async () => {
  assert.match(await helpOf('validate'), /-o, --output FORMAT/);
  const convert = await helpOf('convert');
  for (const flag of ['--output-dir DIR', '-o, --output FORMAT', '-n, --namespace NS', '--name NAME']) assert.ok(convert.includes(flag), flag);
  const plan = await helpOf('plan');
  for (const flag of ['--diff BASE', '--secrets-dir DIR', '--verify-key FILE', '--plan-concurrency N', '-o, --output FORMAT']) assert.ok(plan.includes(flag), flag);
  for (const flag of ['--confirm', '--concurrency N', '--edge-timeout', '--key FILE', '--keyless', '--fulcio-url', '--skip-attestation', '--signature-format']) {
    assert.ok(!plan.includes(flag), `plan --help lists ${flag}`);
  }
  const promote = await helpOf('promote');
  for (const flag of ['--confirm', '--concurrency N', '--key FILE', '--keyless', '--secrets-dir DIR', '--verify-key FILE']) assert.ok(promote.includes(flag), flag);
  assert.ok(!promote.includes('--diff'));
  for (const command of ['get', 'reconcile', 'suspend', 'resume']) assert.match(await helpOf(command), /--kubeconfig PATH[\s\S]*-n, --namespace NS/);
  assert.match(await helpOf('get'), /-w, --watch/);
  assert.match(await helpOf('completion'), /bash[\s\S]*zsh[\s\S]*fish/);
});

test('version -o yaml prints YAML, -o json JSON, anything else is a usage error', async () => {
  const y = capture();
  assert.equal(await main(['version', '-o', 'yaml'], y.io), 0);
  assert.equal((parseYaml(y.out()) as { version: string }).version, '0.1.0');
  assert.match(y.out(), /^version: 0\.1\.0\nnode: v24\./);
  const bad = capture();
  assert.equal(await main(['version', '-o', 'xml'], bad.io), 2);
  assert.match(bad.err(), /--output must be text, json or yaml/);
});

test('-o is the output format everywhere: convert -o DIR says to use --output-dir', async () => {
  const c = capture();
  assert.equal(await main(['convert', 'test/fixtures/k8sio/registry.k8s.io-sample', '-o', 'out/'], c.io), 2);
  assert.match(c.err(), /--output \(-o\) is the format, yaml or json, got "out\/"; to write one file per resource use --output-dir out\//);
});

test('on a Node older than 24, bin/hoist.js prints one clear line and exits 1', () => {
  // Node 24 is what runs the tests; an older one is simulated by what bin/hoist.js reads.
  const fake = 'data:text/javascript,Object.defineProperty(process,"versions",{value:{...process.versions,node:"20.11.1"}});Object.defineProperty(process,"version",{value:"v20.11.1"});';
  const r = spawnSync(process.execPath, ['--import', fake, 'bin/hoist.js', 'version'], { encoding: 'utf8' });
  assert.equal(r.status, 1);
  assert.equal(r.stdout, '');
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  assert.match(r.stderr, /^hoist needs Node\.js 24 or newer, but .* is v20\.11\.1; in the checkout run `npx hoist \.\.\.`/);
  assert.doesNotMatch(r.stderr, /ERR_UNKNOWN_FILE_EXTENSION|at /);
});

test('promote checks its signing settings even in a dry run; plan leaves them out', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'hoist-cli-sign-'));
  try {
    const file = join(dir, 'pm.yaml');
    writeFileSync(file, `apiVersion: hoist.dev/v1alpha1
kind: PromotionManifest
metadata:
  name: app
spec:
  registries:
    - name: 127.0.0.1:1/staging
      src: true
    - name: 127.0.0.1:1/prod
  images:
    - name: app
      dmap:
        "sha256:${'a'.repeat(64)}": ["v1"]
  signing:
    keyless: {}
`);
    const dry = capture();
    assert.equal(await main(['promote', '-f', file, '-q'], dry.io), 2);
    assert.match(dry.err(), /keyless signing needs --identity-token-file FILE/);
    // Plan's trust settings leave signing out, so nothing about it can fail there.
    const spec = { registries: [], images: [], signing: { keyless: {} }, verification: { signatures: { mode: 'Warn', keys: [{ secretRef: { name: 'k' } }] } } } as never;
    const planTrust = await trustFromFlags({}, [spec], { sign: false });
    assert.deepEqual(Object.keys(planTrust ?? {}).filter((k) => k !== 'readSecret'), ['verification']);
    await assert.rejects(trustFromFlags({}, [spec], { sign: true }), /keyless signing needs --identity-token-file/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('--trusted-realm has one parser for every command: REGISTRY=HOST pairs, repeatable, mistakes explained', async () => {
  const { trustedRealms } = await import('../../src/cli/flags.ts');
  assert.deepEqual(trustedRealms(['a.example=auth.example', 'a.example=auth2.example', 'b.example=auth.example']), { 'a.example': ['auth.example', 'auth2.example'], 'b.example': ['auth.example'] });
  assert.deepEqual(trustedRealms(undefined), {});
  for (const bad of ['a.example', 'a.example=', '=auth.example', 'a=b=c']) assert.throws(() => trustedRealms([bad]), /--trusted-realm must be REGISTRY=HOST/);
});

test('hoist replicate takes an empty --registry-config as "no credentials", as promote does', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'hoist-empty-config-'));
  try {
    const empty = join(dir, 'config.json');
    writeFileSync(empty, '');
    const manifest = join(dir, 'promoter-manifest.yaml');
    const digest = `sha256:${'a'.repeat(64)}`;
    // Nothing listens on port 1: the run gets as far as the registries, past the credentials.
    writeFileSync(manifest, `registries:\n  - name: 127.0.0.1:1/staging\n    src: true\n  - name: 127.0.0.1:1/prod\n  - name: 127.0.0.1:1/mirror\nimages:\n  - name: app\n    dmap:\n      "${digest}": ["v1"]\n`);
    for (const args of [
      ['replicate', '-f', manifest, '--primary', '127.0.0.1:1/prod', '--registry-config', empty, '--quiet', '--retry-budget', '0s'],
    ]) {
      const c = capture();
      const code = await main(args, c.io);
      assert.notEqual(code, 2, `${args[0]}: ${c.err()}`);
      assert.doesNotMatch(c.err(), /registry-config/, `${args[0]}: ${c.err()}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
