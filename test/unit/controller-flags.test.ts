// `hoist controller`'s trust and registry flags and a run's trust options: --signing-config with
// --fulcio-url/--rekor-url/--timestamp-server-url winning over it, no public log unless asked,
// the registry client's retry budget, edge timeout and trusted realms, and the spec's
// verification and signing fields reaching TrustOptions.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { signingFromFlags } from '../../src/cli/commands/controller.ts';
import { main } from '../../src/cli/main.ts';
import { promotionManifestSpecSchema } from '../../src/api/promotion-manifest.ts';
import { isTerminal } from '../../src/api/reasons.ts';
import { runTrust, specTrustedRoot } from '../../src/controller/trust.ts';
import { TRUSTED_ROOT_KEY } from '../../src/signing/trusted-root.ts';

const dir = mkdtempSync(join(tmpdir(), 'hoist-flags-'));
const config = join(dir, 'signing-config.json');
const service = (url: string, majorApiVersion: number) => ({ url, majorApiVersion, validFor: { start: '2024-01-01T00:00:00Z' }, operator: 'test' });
writeFileSync(config, JSON.stringify({
  mediaType: 'application/vnd.dev.sigstore.signingconfig.v0.2+json',
  caUrls: [service('https://fulcio.internal.example', 1)],
  rekorTlogUrls: [service('https://rekor.internal.example', 2)],
  tsaUrls: [service('https://tsa.internal.example/api/v1/timestamp', 1)],
  rekorTlogConfig: { selector: 'ANY' }, tsaConfig: { selector: 'ANY' },
}));

test('no signing services unless asked: the public-good Fulcio, no Rekor, no TSA', async () => {
  assert.deepEqual(await signingFromFlags({}), { fulcioUrl: 'https://fulcio.sigstore.dev' });
});

test('--signing-config names Fulcio, Rekor and the TSA; the single flags win over it', async () => {
  assert.deepEqual(await signingFromFlags({ 'signing-config': config }), {
    fulcioUrl: 'https://fulcio.internal.example',
    signingServices: { rekorURL: 'https://rekor.internal.example', rekorVersion: 2, timestampAuthorityURL: 'https://tsa.internal.example/api/v1/timestamp' },
  });
  assert.deepEqual(await signingFromFlags({ 'signing-config': config, 'rekor-url': 'https://rekor.other.example', 'fulcio-url': 'https://fulcio.other.example' }), {
    fulcioUrl: 'https://fulcio.other.example',
    signingServices: { rekorURL: 'https://rekor.other.example', rekorVersion: 1, timestampAuthorityURL: 'https://tsa.internal.example/api/v1/timestamp' },
  });
  assert.deepEqual((await signingFromFlags({ 'timestamp-server-url': 'https://tsa.example/ts' })).signingServices, { timestampAuthorityURL: 'https://tsa.example/ts' });
  await assert.rejects(signingFromFlags({ 'rekor-url': 'rekor.example' }), /--rekor-url must be an http\(s\) URL/);
  await assert.rejects(signingFromFlags({ 'signing-config': join(dir, 'missing.json') }), /--signing-config: cannot read the signing config/);
});

test('bad registry and signing flags are usage errors (exit 2) before anything starts', async () => {
  const run = async (...args: string[]) => {
    let err = '';
    const code = await main(['controller', ...args], { out: { write: () => true } as never, err: { write: (s: string) => { err += s; return true; } } as never });
    return { code, err };
  };
  for (const [args, message] of [
    [['--retry-budget=soon'], /--retry-budget must be a duration/],
    [['--edge-timeout=0s'], /--edge-timeout must be a duration/],
    [['--trusted-realm=registry.example'], /--trusted-realm must be REGISTRY=HOST/],
    [['--timestamp-server-url=ftp://tsa'], /--timestamp-server-url must be an http\(s\) URL/],
    [['--signing-namespaces=,'], /--signing-namespaces needs at least one namespace/],
  ] as const) {
    const { code, err } = await run('--kubeconfig=/nonexistent', ...args);
    assert.equal(code, 2, `${args.join(' ')}: ${err}`);
    assert.match(err, message);
  }
});

test('the spec\'s trust fields reach the run: formats, tlog and SCT thresholds, issuer patterns, a trusted root from a ConfigMap', async () => {
  const spec = promotionManifestSpecSchema.parse({
    registries: [{ name: 'staging.example/s', src: true }, { name: 'prod.example/p' }], images: [],
    verification: { signatures: { identities: [{ issuerRegExp: '^https://token\\.example/', subject: 'me' }], insecureIgnoreTlog: true, insecureIgnoreSCT: true } },
    signing: { key: { secretRef: { name: 'k' } }, formats: ['legacy'] },
  });
  assert.equal(promotionManifestSpecSchema.safeParse({ ...spec, verification: { signatures: { identities: [{ subject: 'me' }] } } }).success, false, 'an identity needs an issuer or an issuer pattern');
  const trust = await runTrust(spec, { namespace: 'ns', name: 'pm', generation: 2 }, { fulcioURL: 'https://fulcio.example', signingServices: { timestampAuthorityURL: 'https://tsa.example' } }, {
    secrets: { read: async () => undefined }, configMaps: { read: async () => undefined },
  });
  assert.deepEqual(trust.signatureFormats, ['legacy']);
  assert.equal(trust.insecureIgnoreTlog, true);
  assert.equal(trust.insecureIgnoreSCT, true);
  assert.deepEqual(trust.signingServices, { timestampAuthorityURL: 'https://tsa.example' });
  assert.deepEqual(trust.source, { kind: 'PromotionManifest', namespace: 'ns', name: 'pm', generation: 2 });
  const root = new URL('../../src/signing/roots/public-good.json', import.meta.url);
  const { readFileSync } = await import('node:fs');
  const text = readFileSync(root, 'utf8');
  const read = { secrets: { read: async () => undefined }, configMaps: { read: async (ns: string, name: string) => (ns === 'ns' && name === 'roots' ? { data: { [TRUSTED_ROOT_KEY]: text } } : undefined) } };
  const loaded = await specTrustedRoot({ configMapRef: { name: 'roots' } }, 'ns', read);
  assert.ok(loaded.certificateAuthorities.length > 0);
  // Not found (the object or its key) is retried, not Stalled: nothing watches ConfigMaps, so creating one heals on the next retry.
  await assert.rejects(specTrustedRoot({ configMapRef: { name: 'roots' } }, 'other', read), (e: Error & { reason?: string }) => e.reason === 'TrustedRootNotFound' && /ConfigMap other\/roots does not exist/.test(e.message));
  await assert.rejects(specTrustedRoot({ configMapRef: { name: 'roots', key: 'x.json' } }, 'ns', read), (e: Error & { reason?: string }) => e.reason === 'TrustedRootNotFound' && /key x.json does not exist/.test(e.message));
  assert.equal(isTerminal('TrustedRootNotFound'), false);
  const broken = { ...read, configMaps: { read: async () => ({ data: { [TRUSTED_ROOT_KEY]: '{' } }) } };
  await assert.rejects(specTrustedRoot({ configMapRef: { name: 'roots' } }, 'ns', broken), (e: Error & { reason?: string }) => e.reason === 'InvalidTrustedRoot');
  assert.equal(isTerminal('InvalidTrustedRoot'), true);
});

test('--signing-namespaces: keyless signing, as the controller\'s identity, only for manifests in those namespaces; key signing anywhere', async () => {
  const readers = { secrets: { read: async () => undefined }, configMaps: { read: async () => undefined } };
  const spec = (signing: object) => promotionManifestSpecSchema.parse({ registries: [{ name: 'staging.example/s', src: true }, { name: 'prod.example/p' }], images: [], signing });
  const controller = { fulcioURL: 'https://fulcio.example', signingNamespaces: ['releng'] };
  const keyless = spec({ keyless: {} });
  await assert.rejects(runTrust(keyless, { namespace: 'team-a', name: 'pm', generation: 1 }, controller, readers), (e: Error & { reason?: string }) => {
    assert.equal(e.reason, 'SigningNotAllowed');
    assert.match(e.message, /manifests in namespace team-a may not sign as the controller's identity; the controller allows it in releng \(--signing-namespaces\)/);
    return true;
  });
  assert.equal(isTerminal('SigningNotAllowed'), true, 'Stalled until the spec or the controller changes');
  assert.ok((await runTrust(keyless, { namespace: 'releng', name: 'pm', generation: 1 }, controller, readers)).signing?.keyless);
  assert.ok((await runTrust(spec({ key: { secretRef: { name: 'k' } } }), { namespace: 'team-a', name: 'pm', generation: 1 }, controller, readers)).signing?.key, 'a key of its own namespace signs as that team');
  assert.ok((await runTrust(keyless, { namespace: 'team-a', name: 'pm', generation: 1 }, { fulcioURL: 'https://fulcio.example' }, readers)).signing?.keyless, 'no list: every namespace, as before');
});
