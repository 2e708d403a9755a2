// Trusted roots from every place the controller and the CLI take them (a file, a ConfigMap, a
// Secret, the built-in public-good root) and Sigstore signing configs: what loads, and what is
// refused with a reason a person can act on.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { parseSigningConfig } from '../../src/signing/signing-config.ts';
import { keylessTrustedRootProblem, ownTrustedRootOf, signatureFormats, trustedRootOf } from '../../src/signing/trust-material.ts';
import {
  parseTrustedRoot, publicGoodTrustedRoot, readTrustedRootFile, resolveTrustedRoot, trustedRootFromConfigMap, trustedRootFromSecret,
} from '../../src/signing/trusted-root.ts';

const fixture = (name: string) => new URL(`../fixtures/sigstore/trusted-roots/${name}`, import.meta.url).pathname;
const publicGoodText = readFileSync(fixture('public-good.json'), 'utf8');

describe('trusted roots', () => {
  test('the built-in root is the public-good one, with its TSA, Rekor v1 and v2 and CT logs', async () => {
    const root = await publicGoodTrustedRoot();
    assert.equal(root.source, 'the built-in public-good root');
    assert.deepEqual(root.json, JSON.parse(publicGoodText), 'src/signing/roots/public-good.json is the fixture root');
    assert.deepEqual(root.counts, { certificateAuthorities: 2, tlogs: 2, ctlogs: 2, timestampAuthorities: 1 });
    assert.equal(await resolveTrustedRoot(undefined), root, 'no root configured: the built-in one');
  });

  test('from a file, a ConfigMap (data or binaryData) and a Secret (base64 data or stringData)', async () => {
    assert.equal((await readTrustedRootFile(fixture('public-good.json'))).counts.tlogs, 2);
    const b64 = Buffer.from(publicGoodText).toString('base64');
    assert.equal(trustedRootFromConfigMap({ data: { 'trusted_root.json': publicGoodText } }, 'sigstore/root').source, 'ConfigMap sigstore/root key trusted_root.json');
    assert.equal(trustedRootFromConfigMap({ binaryData: { 'root.json': b64 } }, 'sigstore/root', 'root.json').counts.timestampAuthorities, 1);
    assert.equal(trustedRootFromSecret({ data: { 'trusted_root.json': b64 } }, 'sigstore/root').counts.ctlogs, 2);
    assert.equal(trustedRootFromSecret({ stringData: { 'trusted_root.json': publicGoodText } }, 'sigstore/root').counts.certificateAuthorities, 2);
    assert.throws(() => trustedRootFromConfigMap({ data: {} }, 'sigstore/root'), { reason: 'TrustedRootNotFound', message: /ConfigMap sigstore\/root key trusted_root.json does not exist; create it with kubectl create configmap/ });
    assert.throws(() => trustedRootFromSecret({}, 'sigstore/root'), { reason: 'TrustedRootNotFound', message: /kubectl create secret generic/ });
  });

  test('malformed roots are refused as sigstore-go refuses them', async () => {
    const root = JSON.parse(publicGoodText) as { tlogs: { publicKey: { validFor: { start?: string } } }[]; ctlogs: { logId?: unknown }[] };
    const noStart = structuredClone(root);
    delete noStart.tlogs[0]!.publicKey.validFor.start;
    assert.throws(() => parseTrustedRoot(noStart, 'x'), { reason: 'InvalidTrustedRoot', message: /tlogs\[0\] has no publicKey.validFor.start/ });
    const noLogId = structuredClone(root);
    delete noLogId.ctlogs[1]!.logId;
    assert.throws(() => parseTrustedRoot(noLogId, 'x'), { message: /ctlogs\[1\].* has no logId.keyId/ });
    assert.throws(() => parseTrustedRoot('{not json', 'root.json'), { message: /the trusted root root.json is not a valid sigstore trusted_root.json: not valid JSON/ });
    assert.throws(() => parseTrustedRoot([], 'root.json'), { message: /not a JSON object/ });
    assert.throws(() => parseTrustedRoot('{"a": 1,', 'root.json'), { message: /: not valid JSON at line 1 column 9; expected the JSON of a sigstore trusted_root.json$/ });
    await assert.rejects(readTrustedRootFile('/nonexistent/root.json'), { message: /cannot read the trusted root \/nonexistent\/root.json \(ENOENT\)/ });
  });
  test('a root that does not parse is described by key and place, never quoted: a Secret\'s content stays out of messages', () => {
    const secretText = 'password=hunter2-not-a-root';
    const secret = { data: { 'trusted_root.json': Buffer.from(secretText).toString('base64') } };
    assert.throws(() => trustedRootFromSecret(secret, 'ns/creds'), (error: Error & { reason?: string }) => {
      assert.equal(error.reason, 'InvalidTrustedRoot');
      assert.match(error.message, /^the trusted root Secret ns\/creds key trusted_root.json is not a valid sigstore trusted_root.json: not valid JSON/);
      assert.match(error.message, /expected the JSON of a sigstore trusted_root.json/);
      assert.doesNotMatch(error.message, /hunter2|password/);
      return true;
    });
    const almost = `{"mediaType": "x", "tlogs": [], "certificateAuthorities": [{"subject": {"organization": "hunter2"}, "certChain": 7}]`;
    assert.throws(() => trustedRootFromConfigMap({ data: { 'root.json': almost } }, 'ns/root', 'root.json'), (error: Error) => {
      assert.match(error.message, /ConfigMap ns\/root key root.json .*not valid JSON/);
      assert.doesNotMatch(error.message, /hunter2/);
      return true;
    });
    // A value the schema refuses (an unknown enum) is named by its field's type, not repeated.
    const root = JSON.parse(publicGoodText) as { tlogs: { hashAlgorithm: string; publicKey: { keyDetails: string } }[] };
    root.tlogs[0]!.publicKey.keyDetails = 'SECRET_hunter2';
    assert.throws(() => parseTrustedRoot(root, 'ns/root'), (error: Error) => {
      assert.match(error.message, /a PublicKeyDetails field has a value the sigstore schema does not define/);
      assert.doesNotMatch(error.message, /hunter2/);
      return true;
    });
    const badHash = JSON.parse(publicGoodText) as { tlogs: { hashAlgorithm: string }[] };
    badHash.tlogs[0]!.hashAlgorithm = 'hunter2';
    assert.throws(() => parseTrustedRoot(badHash, 'ns/root'), (error: Error) => !/hunter2/.test(error.message) && /tlogs\[0\] uses a hashAlgorithm other than SHA2_256/.test(error.message));
  });
});

describe('signing configs and formats', () => {
  const service = (url: string, majorApiVersion: number, start: string, end?: string) => ({ url, majorApiVersion, validFor: { start, ...(end && { end }) }, operator: 'example.com' });
  test('the newest valid service of a version Hoist writes is chosen, as cosign and sigstore-js choose', () => {
    const choice = parseSigningConfig({
      mediaType: 'application/vnd.dev.sigstore.signingconfig.v0.2+json',
      caUrls: [service('https://fulcio.example', 1, '2023-01-01T00:00:00Z')],
      rekorTlogUrls: [
        service('https://rekor.example', 1, '2023-01-01T00:00:00Z'),
        service('https://log2025.rekor.example', 2, '2025-01-01T00:00:00Z'),
        service('https://rekor-v3.example', 3, '2026-01-01T00:00:00Z'),
      ],
      rekorTlogConfig: { selector: 'ANY' },
      tsaUrls: [service('https://old-tsa.example', 1, '2022-01-01T00:00:00Z', '2023-01-01T00:00:00Z'), service('https://tsa.example/api/v1/timestamp', 1, '2023-06-01T00:00:00Z')],
      tsaConfig: { selector: 'ANY' },
    }, 'config.json', new Date('2026-06-01T00:00:00Z'));
    assert.deepEqual(choice, {
      fulcioURL: 'https://fulcio.example',
      services: { rekorURL: 'https://log2025.rekor.example', rekorVersion: 2, timestampAuthorityURL: 'https://tsa.example/api/v1/timestamp' },
    });
    assert.throws(() => parseSigningConfig({ mediaType: 'application/json' }, 'x.json'), { reason: 'InvalidSigningConfig', message: /not application\/vnd.dev.sigstore.signingconfig.v0.2\+json/ });
    assert.throws(() => parseSigningConfig({ mediaType: 'application/vnd.dev.sigstore.signingconfig.v0.2+json', tsaUrls: [service('https://tsa', 1, '2020-01-01T00:00:00Z', '2021-01-01T00:00:00Z')] }, 'x.json'), { message: /no timestamp authority that is valid now/ });
  });

  test('both formats unless told otherwise; the old opt-in flag set to false means bundles only', () => {
    assert.deepEqual(signatureFormats(undefined), ['bundle', 'legacy']);
    assert.deepEqual(signatureFormats({}), ['bundle', 'legacy']);
    assert.deepEqual(signatureFormats({ legacySignatureTag: false }), ['bundle']);
    assert.deepEqual(signatureFormats({ signatureFormats: ['legacy'] }), ['legacy']);
    // The spec field the API is to carry (spec.signing.formats), read when present.
    assert.deepEqual(signatureFormats({ signing: { formats: ['bundle'] } as never }), ['bundle']);
  });
});

describe('which root judges what', () => {
  test('a manifest\'s own root verifies staging; our own signatures and admission use the operator\'s root only', async () => {
    const tenant = parseTrustedRoot(publicGoodText, 'ConfigMap team-a/root key trusted_root.json');
    const operator = JSON.parse(publicGoodText) as object;
    const trust = { trustedRoot: tenant, keyless: { fulcioURL: 'https://fulcio.internal.example', trustedRoot: operator } };
    assert.equal(await trustedRootOf(trust), tenant, 'staging verification: the manifest\'s root');
    const own = await ownTrustedRootOf(trust);
    assert.notEqual(own, tenant);
    assert.equal(own.json, operator, 'our signatures: the operator\'s root');
    assert.equal(await ownTrustedRootOf({ trustedRoot: tenant }), await publicGoodTrustedRoot(), 'no operator root: the built-in one, never the tenant\'s');
    // Keyless signing with a private Fulcio needs the operator's root; a manifest's root does not stand in for it.
    const keyless = { signing: { keyless: {} }, trustedRoot: tenant, keyless: { fulcioURL: 'https://fulcio.internal.example' } };
    assert.match(keylessTrustedRootProblem(keyless) ?? '', /needs a sigstore trusted_root.json with the Fulcio roots/);
    assert.equal(keylessTrustedRootProblem({ ...keyless, keyless: { ...keyless.keyless, trustedRoot: operator } }), undefined);
  });
});
