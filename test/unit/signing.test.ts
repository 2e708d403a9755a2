// Signing building blocks without a registry: cosign's encrypted key format (a key written by
// `cosign generate-key-pair`), key hints, the NaCl secretbox, simple-signing payloads, the
// cosign v3 bundle manifest layout, identity matching, and verifying what our signer signs.
import assert from 'node:assert/strict';
import { createHook } from 'node:async_hooks';
import { createHash, createPrivateKey, generateKeyPairSync, randomBytes, sign as cryptoSign } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { parseCertificate } from '../../src/signing/certificate.ts';
import { buildStatement, IN_TOTO_PAYLOAD_TYPE } from '../../src/provenance/statement.ts';
import type { Found } from '../../src/signing/discover.ts';
import { bundleManifest, COSIGN_SIGN_PREDICATE, legacyTag } from '../../src/signing/formats.ts';
import { encryptPrivateKey, keyHint, loadPrivateKey, loadPublicKey } from '../../src/signing/keys.ts';
import { identityMatches, type SignerPolicy } from '../../src/signing/policy.ts';
import { secretboxOpen, secretboxSeal } from '../../src/signing/secretbox.ts';
import type { SigningServices } from '../../src/signing/options.ts';
import { proofsFor } from '../../src/signing/recognise.ts';
import { keylessSigner, keySigner } from '../../src/signing/signer.ts';
import { identityFromToken } from '../../src/signing/token-identity.ts';
import { artifactSigner } from '../../src/signing/trust-material.ts';
import { setupPhase } from '../../src/pipeline/phases/setup.ts';
import type { RunContext, TrustOptions } from '../../src/pipeline/types.ts';
import { simpleSigningDigest, simpleSigningPayload } from '../../src/signing/simple-signing.ts';
import { parseTrustedRoot } from '../../src/signing/trusted-root.ts';
import { verifyFound } from '../../src/signing/verify.ts';

// Written by `cosign generate-key-pair` (v3.1.3) with COSIGN_PASSWORD=pw.
const COSIGN_KEY = `-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----
eyJrZGYiOnsibmFtZSI6InNjcnlwdCIsInBhcmFtcyI6eyJOIjo2NTUzNiwiciI6
OCwicCI6MX0sInNhbHQiOiJqczNscUxwNXJRSGNMcTFlRkE1Si9ReUpBYW1lYXFm
ZXk2YnJ1M2t1b0hNPSJ9LCJjaXBoZXIiOnsibmFtZSI6Im5hY2wvc2VjcmV0Ym94
Iiwibm9uY2UiOiJRVXlJZHJDMjdKeDhxeFBydU5oOVQya3RVOFJRZkhQVCJ9LCJj
aXBoZXJ0ZXh0IjoiOVEvWUJqT1hRanpLbVRwbksyUW85SEMzUVlvallWTW5DTndB
V3BxK0h4UVoveGU3UW9paVAxWTgrbUM2T1dDVXNxejcwOTNnbkZxcHFnSm5DV2dC
VWlyVW1vUDJwcEd2Y3k3TVRzcXN6OVlIRnhHaDZhalRWWmYyeEhYbzhwK3hQTS9E
L1lENlJ6MWZKTmN2UjU4L3N5ZU9oSVRvekRqb29XeHhRcEVaTnc3b3FQQ3I5bjVS
Ym9aVkJlN0xqRlJpNkpzbkNKQVVTcEFPN3c9PSJ9
-----END ENCRYPTED SIGSTORE PRIVATE KEY-----
`;
const COSIGN_PUB = `-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAESd4NF1fIXNuB7l9kgKRJY+oJb2s3
5Jzvs/Eu3rHfU5W1i8K7VBN4wsF+hv02zeHZYaYBg8Anrztpn4WZq4di2w==
-----END PUBLIC KEY-----
`;
// The hint cosign put in the bundle it signed with this key.
const COSIGN_HINT = 'tYOM7z9+rLDzZEtAghuS+e1gzuOe9+kTUoBEi2I77S4=';
const DIGEST = `sha256:${'ab'.repeat(32)}`;

describe('cosign keys', () => {
  test('decrypts a key cosign generated, and its hint is the one cosign writes', async () => {
    const key = await loadPrivateKey(COSIGN_KEY, 'pw');
    assert.equal(keyHint(key), COSIGN_HINT);
    assert.equal(keyHint(loadPublicKey(COSIGN_PUB)), COSIGN_HINT);
  });

  test('a wrong password is WrongKeyPassword, garbage is InvalidKey', async () => {
    await assert.rejects(loadPrivateKey(COSIGN_KEY, 'nope'), { reason: 'WrongKeyPassword' });
    await assert.rejects(loadPrivateKey('not a key', 'pw'), { reason: 'InvalidKey' });
    assert.throws(() => loadPublicKey('-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----'), { reason: 'InvalidKey' });
  });

  test('keys we encrypt decrypt again (cheap scrypt parameters for the test)', async () => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const pem = await encryptPrivateKey(privateKey, 'secret', { N: 1024, r: 8, p: 1 });
    assert.match(pem, /^-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n/);
    assert.equal(keyHint(await loadPrivateKey(pem, 'secret')), keyHint(privateKey));
  });

  test('scrypt cost beyond what cosign writes is InvalidKey, refused before any work', async (t) => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const pem = await encryptPrivateKey(privateKey, 'secret', { N: 1024, r: 8, p: 1 });
    const withParams = (params: unknown) => {
      const body = pem.split('\n').slice(1, -2).join('');
      const doc = JSON.parse(Buffer.from(body, 'base64').toString('utf8')) as { kdf: { params: unknown } };
      doc.kdf.params = params;
      return `-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n${Buffer.from(JSON.stringify(doc)).toString('base64')}\n-----END ENCRYPTED SIGSTORE PRIVATE KEY-----\n`;
    };
    assert.equal(keyHint(await loadPrivateKey(withParams({ N: 1024, r: 8, p: 1 }), 'secret')), keyHint(privateKey), 'the re-encoding itself is sound');
    // Every scrypt run is a crypto job in the thread pool, an async resource of its own type.
    let scryptRuns = 0;
    const hook = createHook({ init: (_id, type) => { if (type === 'SCRYPTREQUEST') scryptRuns += 1; } }).enable();
    t.after(() => hook.disable());
    await loadPrivateKey(withParams({ N: 1024, r: 8, p: 1 }), 'secret');
    assert.equal(scryptRuns, 1, 'the hook sees the key code\'s scrypt runs');
    for (const params of [{ N: 2 ** 30, r: 8, p: 1 }, { N: 2 ** 18, r: 8, p: 1 }, { N: 1024, r: 16, p: 1 }, { N: 1024, r: 8, p: 2 },
      { N: 1000, r: 8, p: 1 }, { N: '1024', r: 8, p: 1 }, { N: 1024, r: 0, p: 1 }, {}]) {
      await assert.rejects(loadPrivateKey(withParams(params), 'secret'), { reason: 'InvalidKey', message: /scrypt parameters .* not what cosign writes/ }, JSON.stringify(params));
    }
    assert.equal(scryptRuns, 1, 'refused without running scrypt');
  });

  test('secretbox: round trip, and a flipped bit is refused', () => {
    const key = randomBytes(32);
    const nonce = randomBytes(24);
    const message = randomBytes(200);
    const box = secretboxSeal(message, nonce, key);
    assert.equal(box.length, message.length + 16);
    assert.deepEqual(secretboxOpen(box, nonce, key), message);
    box[20]! ^= 1;
    assert.equal(secretboxOpen(box, nonce, key), undefined);
  });
});

describe('formats', () => {
  test('simple-signing payload names the digest; others are rejected', () => {
    const payload = simpleSigningPayload('registry.example/app', DIGEST);
    assert.deepEqual(simpleSigningDigest(payload), { digest: DIGEST });
    assert.match((simpleSigningDigest(Buffer.from('{"critical":{"type":"x"}}')) as { error: string }).error, /payload type/);
    assert.equal(legacyTag(DIGEST, 'sig'), `sha256-${'ab'.repeat(32)}.sig`);
  });

  test('the bundle manifest has the layout cosign v3 writes', () => {
    const subject = { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: DIGEST, size: 477 };
    const artifact = bundleManifest(Buffer.from('{}'), subject, COSIGN_SIGN_PREDICATE, new Date('2026-01-02T03:04:05.678Z'));
    const doc = JSON.parse(artifact.bytes.toString('utf8')) as Record<string, unknown>;
    assert.equal(doc.artifactType, 'application/vnd.dev.sigstore.bundle.v0.3+json');
    assert.deepEqual(doc.config, { mediaType: 'application/vnd.oci.empty.v1+json', size: 2, digest: 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a' });
    assert.deepEqual(doc.subject, subject);
    assert.deepEqual(doc.annotations, {
      'dev.sigstore.bundle.content': 'dsse-envelope',
      'dev.sigstore.bundle.predicateType': COSIGN_SIGN_PREDICATE,
      'org.opencontainers.image.created': '2026-01-02T03:04:05Z',
    });
  });
});

describe('policy', () => {
  test('identities: issuer exact, subject exact or unanchored regular expression', () => {
    const issuer = 'https://kubernetes.default.svc';
    const subject = 'https://kubernetes.io/namespaces/hoist/serviceaccounts/promoter';
    assert.ok(identityMatches({ issuer, subject }, { issuer, subject }));
    assert.ok(identityMatches({ issuer, subjectRegExp: 'namespaces/hoist/' }, { issuer, subject }));
    assert.ok(!identityMatches({ issuer, subjectRegExp: '^promoter$' }, { issuer, subject }));
    assert.ok(!identityMatches({ issuer: 'https://accounts.google.com', subject }, { issuer, subject }));
    assert.ok(!identityMatches({ issuer, subject: `${subject}x` }, { issuer, subject }));
    assert.ok(!identityMatches({ issuer, subjectRegExp: '(' }, { issuer, subject }), 'an invalid expression matches nothing');
  });
});

describe('verification of what our signer signs', () => {
  const ours = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const theirs = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  // Signed without a transparency log, as Hoist signs where no Rekor is configured: accepted only
  // when the policy ignores the log, as `cosign verify --key --insecure-ignore-tlog` accepts it.
  const policyOf = (key = ours.publicKey): SignerPolicy => ({ keys: [{ name: 'k', key }], identities: [], certificateAuthorities: [], ignoreTlog: true });
  const signer = keySigner(ours.privateKey, 'ours');

  test('a DSSE bundle verifies with our key, not with another; a changed payload fails', async () => {
    const statement = buildStatement([{ digest: DIGEST }], COSIGN_SIGN_PREDICATE, {});
    const bytes = await signer.signDsse(IN_TOTO_PAYLOAD_TYPE, statement);
    const bundle = JSON.parse(bytes.toString('utf8')) as { dsseEnvelope: { payload: string; signatures: { keyid?: string }[] } };
    assert.equal(bundle.dsseEnvelope.signatures[0]!.keyid, undefined, 'cosign skips signatures whose keyid is not its own');
    const found = (b: unknown): Found => ({ kind: 'bundle', manifestDigest: DIGEST, manifest: Buffer.from(''), layer: { mediaType: '', digest: DIGEST, size: 0 }, bundleBytes: bytes, bundle: b });
    const verdict = verifyFound(found(bundle), policyOf());
    assert.ok('verified' in verdict, JSON.stringify(verdict));
    assert.deepEqual(verdict.verified.payload, statement);
    assert.match((verifyFound(found(bundle), policyOf(theirs.publicKey)) as { error: string }).error, /none of the accepted keys/);
    const strict = verifyFound(found(bundle), { ...policyOf(), ignoreTlog: false });
    assert.ok('error' in strict && strict.reason === 'TransparencyLogEntryMissing', JSON.stringify(strict));
    assert.match(strict.error, /insecureIgnoreTlog \(cosign --insecure-ignore-tlog\)/);
    bundle.dsseEnvelope.payload = Buffer.from(buildStatement([{ digest: `sha256:${'cd'.repeat(32)}` }], COSIGN_SIGN_PREDICATE, {})).toString('base64');
    assert.ok('error' in verifyFound(found(bundle), policyOf()));
  });

  test('a simple-signing signature verifies over its payload', async () => {
    const payload = simpleSigningPayload('registry.example/app', DIGEST);
    const { signature } = await signer.signBlob(payload);
    const found: Found = { kind: 'simpleSigning', tag: 'x.sig', layer: { mediaType: '', digest: DIGEST, size: 0 }, payload, signature };
    assert.ok('verified' in verifyFound(found, policyOf()));
    assert.ok('error' in verifyFound({ ...found, payload: simpleSigningPayload('registry.example/app', `sha256:${'cd'.repeat(32)}`) }, policyOf()));
  });
});

describe('Ed25519 keys', () => {
  test('a legacy simple-signing signature by an Ed25519 key verifies (so a rerun does not append another)', async () => {
    const pair = generateKeyPairSync('ed25519');
    const payload = simpleSigningPayload('registry.example/app', DIGEST);
    const { signature } = await keySigner(pair.privateKey, 'ed').signBlob(payload);
    const found: Found = { kind: 'simpleSigning', tag: 'x.sig', layer: { mediaType: '', digest: DIGEST, size: 0 }, payload, signature };
    const policy: SignerPolicy = { keys: [{ name: 'ed', key: pair.publicKey }], identities: [], certificateAuthorities: [], ignoreTlog: true };
    const verdict = verifyFound(found, policy);
    assert.ok('verified' in verdict, JSON.stringify(verdict));
    assert.equal(verdict.verified.signer, 'key ed');
    assert.ok('error' in verifyFound({ ...found, signature: Buffer.from(signature).fill(1, 0, 8) }, policy));
  });
});

describe('keyless certificates and time', () => {
  // test/fixtures/keyless: a test CA, a leaf that expired on 2024-01-01 after ten minutes (as a
  // Fulcio certificate does) and one valid until 2124, both for builder@example.com. A test
  // "Rekor" key signs entry timestamps, so time is proven the way the public-good log proves it.
  const fixture = (name: string) => readFileSync(new URL(`../fixtures/keyless/${name}`, import.meta.url), 'utf8');
  const ca = parseCertificate(fixture('ca.crt'));
  const identity = { issuer: 'https://issuer.example.com', subject: 'builder@example.com' };
  const rekor = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const rekorDer = rekor.publicKey.export({ type: 'spki', format: 'der' });
  const logId = createHash('sha256').update(rekorDer).digest();
  const derOf = (pem: string) => Buffer.from(pem.replace(/-----[A-Z ]+-----|\s+/g, ''), 'base64');
  const trustedRoot = parseTrustedRoot({
    mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1',
    certificateAuthorities: [{ certChain: { certificates: [{ rawBytes: derOf(fixture('ca.crt')).toString('base64') }] }, validFor: { start: '2020-01-01T00:00:00Z' } }],
    tlogs: [{ baseUrl: 'https://rekor.test', hashAlgorithm: 'SHA2_256', logId: { keyId: logId.toString('base64') },
      publicKey: { rawBytes: rekorDer.toString('base64'), keyDetails: 'PKIX_ECDSA_P256_SHA_256', validFor: { start: '2020-01-01T00:00:00Z' } } }],
    ctlogs: [], timestampAuthorities: [],
  }, 'the test root');
  // No CT log in this root: SCTs are not what these tests are about.
  const policy: SignerPolicy = { keys: [], identities: [identity], certificateAuthorities: [[ca]], trustedRoot, ignoreSCT: true };
  const payload = simpleSigningPayload('registry.example/app', DIGEST);
  // ECDSA signatures are randomised: one per leaf, so an entry and its layer agree.
  const signatures = { expired: cryptoSign('sha256', payload, createPrivateKey(fixture('expired.key'))), valid: cryptoSign('sha256', payload, createPrivateKey(fixture('valid.key'))) };
  const signatureBy = (leaf: 'expired' | 'valid') => signatures[leaf];
  /** A Rekor v1 bundle annotation for the signature, integrated at `at`, its SET signed by `signer`. */
  const rekorBundle = (leaf: 'expired' | 'valid', at: Date, signer = rekor.privateKey) => {
    const body = Buffer.from(JSON.stringify({ apiVersion: '0.0.1', kind: 'hashedrekord', spec: {
      data: { hash: { algorithm: 'sha256', value: createHash('sha256').update(payload).digest('hex') } },
      signature: { content: signatureBy(leaf).toString('base64'), publicKey: { content: Buffer.from(fixture(`${leaf}.crt`)).toString('base64') } },
    } })).toString('base64');
    const Payload = { body, integratedTime: Math.floor(at.getTime() / 1000), logIndex: 7, logID: logId.toString('hex') };
    const set = cryptoSign('sha256', Buffer.from(JSON.stringify({ body, integratedTime: Payload.integratedTime, logID: Payload.logID, logIndex: 7 })), signer);
    return JSON.stringify({ SignedEntryTimestamp: set.toString('base64'), Payload });
  };
  const simple = (leaf: 'expired' | 'valid', annotations: Record<string, string> = {}): Found => ({
    kind: 'simpleSigning', tag: 'x.sig', layer: { mediaType: '', digest: DIGEST, size: 0 }, payload,
    signature: signatureBy(leaf), certificate: fixture(`${leaf}.crt`), annotations,
  });
  const reason = (found: Found, p = policy) => { const v = verifyFound(found, p); return 'error' in v ? v.reason : 'verified'; };

  test('an expired certificate verifies at the time a signed entry timestamp proves, never at "now"', () => {
    const during = new Date('2024-01-01T00:01:00Z');
    const verdict = verifyFound(simple('expired', { 'dev.sigstore.cosign/bundle': rekorBundle('expired', during) }), policy);
    assert.ok('verified' in verdict, JSON.stringify(verdict));
    assert.deepEqual(verdict.verified.timestamps, [{ kind: 'transparency-log', time: during }]);
    // Logged after the certificate expired: the signature was not made while it was valid.
    assert.equal(reason(simple('expired', { 'dev.sigstore.cosign/bundle': rekorBundle('expired', new Date('2024-01-01T00:11:00Z')) })), 'CertificateNotValidAtSigningTime');
    // A SET by a key the root does not trust proves nothing.
    assert.equal(reason(simple('expired', { 'dev.sigstore.cosign/bundle': rekorBundle('expired', during, generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey) })), 'TransparencyLogNotVerified');
    // An entry for another signature cannot be borrowed.
    assert.equal(reason(simple('valid', { 'dev.sigstore.cosign/bundle': rekorBundle('expired', during) })), 'TransparencyLogNotVerified');
  });

  test('a legacy .att layer with a Rekor intoto 0.0.1 entry (which @sigstore/verify cannot read) verifies at its integrated time', () => {
    const statement = buildStatement([{ digest: DIGEST }], 'https://slsa.dev/provenance/v1', { runDetails: { builder: { id: 'b' } } });
    const pae = Buffer.concat([Buffer.from(`DSSEv1 ${IN_TOTO_PAYLOAD_TYPE.length} ${IN_TOTO_PAYLOAD_TYPE} ${statement.length} `), statement]);
    const sig = cryptoSign('sha256', pae, createPrivateKey(fixture('expired.key')));
    const envelopeBytes = Buffer.from(JSON.stringify({ payloadType: IN_TOTO_PAYLOAD_TYPE, payload: statement.toString('base64'), signatures: [{ keyid: '', sig: sig.toString('base64') }] }));
    const hex = (b: Buffer) => createHash('sha256').update(b).digest('hex');
    const entryFor = (envelope: Buffer, at: Date, signer = rekor.privateKey) => {
      const body = Buffer.from(JSON.stringify({ apiVersion: '0.0.1', kind: 'intoto', spec: {
        content: { hash: { algorithm: 'sha256', value: hex(envelope) }, payloadHash: { algorithm: 'sha256', value: hex(statement) } },
        publicKey: Buffer.from(fixture('expired.crt')).toString('base64'),
      } })).toString('base64');
      const Payload = { body, integratedTime: Math.floor(at.getTime() / 1000), logIndex: 9, logID: logId.toString('hex') };
      const set = cryptoSign('sha256', Buffer.from(JSON.stringify({ body, integratedTime: Payload.integratedTime, logID: Payload.logID, logIndex: 9 })), signer);
      return JSON.stringify({ SignedEntryTimestamp: set.toString('base64'), Payload });
    };
    const att = (rekorBundle: string, bytes = envelopeBytes): Found => ({
      kind: 'envelope', tag: 'x.att', layer: { mediaType: '', digest: DIGEST, size: 0 }, envelope: JSON.parse(bytes.toString()), envelopeBytes: bytes,
      certificate: fixture('expired.crt'), annotations: { 'dev.sigstore.cosign/bundle': rekorBundle, predicateType: 'https://slsa.dev/provenance/v1' },
    });
    const during = new Date('2024-01-01T00:02:00Z');
    const verdict = verifyFound(att(entryFor(envelopeBytes, during)), policy);
    assert.ok('verified' in verdict, JSON.stringify(verdict));
    assert.deepEqual(verdict.verified.timestamps, [{ kind: 'transparency-log', time: during }]);
    assert.deepEqual(verdict.verified.tlogEntries.map((e) => e.kind), ['intoto/0.0.1']);
    // The entry is about other envelope bytes (here: the same envelope, spaced differently).
    const respaced = Buffer.from(JSON.stringify(JSON.parse(envelopeBytes.toString()), null, 1));
    assert.equal(reason(att(entryFor(envelopeBytes, during), respaced)), 'TransparencyLogNotVerified');
    assert.equal(reason(att(entryFor(envelopeBytes, new Date('2024-01-01T00:20:00Z')))), 'CertificateNotValidAtSigningTime');
    assert.equal(reason(att(entryFor(envelopeBytes, during, generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey))), 'TransparencyLogNotVerified');
  });

  test('without a verified time a keyless signature is refused, even while its certificate is still valid', () => {
    for (const leaf of ['expired', 'valid'] as const) {
      assert.equal(reason(simple(leaf)), 'NoVerifiedTimestamp', leaf);
      assert.equal(reason(simple(leaf), { ...policy, ignoreTlog: true }), 'NoVerifiedTimestamp', leaf);
    }
    const verdict = verifyFound(simple('valid'), policy);
    assert.match((verdict as { error: string }).error, /^NoVerifiedTimestamp: .*signed entry timestamp or an RFC 3161 timestamp/);
    // Another root: the certificate is not trusted at all.
    const stranger = parseTrustedRoot({ ...trustedRoot.json, certificateAuthorities: [] }, 'a stranger root');
    assert.equal(reason(simple('expired', { 'dev.sigstore.cosign/bundle': rekorBundle('expired', new Date('2024-01-01T00:01:00Z')) }), { ...policy, trustedRoot: stranger }), 'CertificateNotTrusted');
  });

  test('an unverified transparency-log integratedTime in a bundle does not make an expired certificate acceptable', () => {
    const envelopePayload = buildStatement([{ digest: DIGEST }], COSIGN_SIGN_PREDICATE, {});
    const pae = Buffer.concat([Buffer.from(`DSSEv1 ${IN_TOTO_PAYLOAD_TYPE.length} ${IN_TOTO_PAYLOAD_TYPE} ${envelopePayload.length} `), envelopePayload]);
    const bundle = {
      mediaType: 'application/vnd.dev.sigstore.bundle.v0.3+json',
      verificationMaterial: {
        certificate: { rawBytes: derOf(fixture('expired.crt')).toString('base64') },
        // Claims to have been logged a minute into the certificate's ten minutes.
        tlogEntries: [{ logIndex: '1', logId: { keyId: Buffer.alloc(32).toString('base64') }, kindVersion: { kind: 'dsse', version: '0.0.1' }, integratedTime: '1704067260', canonicalizedBody: '',
          inclusionProof: { logIndex: '1', rootHash: Buffer.alloc(32).toString('base64'), treeSize: '2', hashes: [], checkpoint: { envelope: '' } } }],
      },
      dsseEnvelope: {
        payload: envelopePayload.toString('base64'), payloadType: IN_TOTO_PAYLOAD_TYPE,
        signatures: [{ sig: cryptoSign('sha256', pae, createPrivateKey(fixture('expired.key'))).toString('base64') }],
      },
    };
    const found: Found = { kind: 'bundle', manifestDigest: DIGEST, manifest: Buffer.from(''), layer: { mediaType: '', digest: DIGEST, size: 0 }, bundleBytes: Buffer.from(JSON.stringify(bundle)), bundle };
    assert.equal(reason(found), 'NoVerifiedTimestamp');
    assert.ok('verified' in verifyFound(found, { ...policy, certificateTime: 'issuance' }), 'recognising our own checks at issuance');
  });

  test('recognising our own earlier signatures checks at issuance; the keyless signer\'s policy asks for exactly that', async () => {
    assert.ok('verified' in verifyFound(simple('expired'), { ...policy, certificateTime: 'issuance' }));
    const signer = keylessSigner({ fulcioURL: 'http://127.0.0.1:9', tokenPath: '/nonexistent', certificateAuthorities: [[ca]], expectedIdentity: { issuer: identity.issuer, subject: identity.subject } });
    assert.equal((await signer.policy()).certificateTime, 'issuance');
  });

  test('our own earlier signature counts only with the proofs our signer now adds to that format, against our own root', () => {
    const signerWith = (services?: SigningServices, root = trustedRoot) => keylessSigner({
      fulcioURL: 'http://127.0.0.1:9', tokenPath: '/nonexistent', certificateAuthorities: [[ca]], expectedIdentity: identity, trustedRoot: root, ...(services && { services }),
    });
    const bare = simple('expired');
    const logged = simple('expired', { 'dev.sigstore.cosign/bundle': rekorBundle('expired', new Date('2024-01-01T00:01:00Z')) });
    const recognised = (services: SigningServices | undefined, found: Found) => reason(found, signerWith(services).recognise(found.kind));
    // No signing service: nothing better can be made, the signature and its chain at issuance suffice.
    assert.equal(recognised(undefined, bare), 'verified');
    // A Rekor v1 log: a .sig layer of ours must carry a verified entry.
    assert.equal(recognised({ rekorURL: 'https://rekor.test' }, bare), 'NoVerifiedTimestamp', 'no entry, so no verified time either');
    assert.equal(recognised({ rekorURL: 'https://rekor.test' }, logged), 'verified');
    // Rekor v2: a .sig layer cannot carry its entry, so none is asked of one (a bundle must have it).
    assert.equal(recognised({ rekorURL: 'https://log.test', rekorVersion: 2 }, bare), 'verified');
    assert.deepEqual(proofsFor({ rekorURL: 'https://log.test', rekorVersion: 2 }, 'bundle'), { tlog: true, timestamp: false });
    assert.deepEqual(proofsFor({ rekorURL: 'https://rekor.test' }, 'envelope'), { tlog: false, timestamp: false });
    // A timestamp authority: an RFC 3161 token is required, a log entry alone is not enough.
    const tsa = { timestampAuthorityURL: 'https://tsa.test' };
    assert.equal(recognised(tsa, logged), 'NoVerifiedTimestamp');
    // With a Rekor and a TSA both are asked: the entry alone does not do.
    assert.equal(recognised({ rekorURL: 'https://rekor.test', ...tsa }, logged), 'NoVerifiedTimestamp');
    assert.match((verifyFound(logged, signerWith({ rekorURL: 'https://rekor.test', ...tsa }).recognise('simpleSigning')) as { error: string }).error, /no RFC 3161 timestamp, though a timestamp authority is configured/);
    // Our own root decides: under a root without our CA, the same signature is not ours.
    const stranger = parseTrustedRoot({ ...trustedRoot.json, certificateAuthorities: [] }, 'a stranger root');
    assert.equal(reason(logged, signerWith({ rekorURL: 'https://rekor.test' }, stranger).recognise('simpleSigning')), 'CertificateNotTrusted');
  });
});

describe('keyless signing never puts the token in a message', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hoist-signing-unit-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const jwt = (claims: object) => `eyJhbGciOiJSUzI1NiJ9.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.c2lnbmF0dXJlLXNlY3JldA`;

  test('a token @sigstore/sign cannot parse: InvalidIdentityToken without the token', async () => {
    const token = 'not-a-jwt-but-a-SECRET-bearer-value';
    const tokenPath = join(dir, 'opaque');
    writeFileSync(tokenPath, token);
    const signer = keylessSigner({ fulcioURL: 'http://127.0.0.1:9', tokenPath, certificateAuthorities: [], expectedIdentity: { issuer: 'i', subject: 's' } });
    for (const attempt of [() => signer.signBlob(Buffer.from('x')), () => signer.signDsse(IN_TOTO_PAYLOAD_TYPE, Buffer.from('{}'))]) {
      await assert.rejects(attempt(), (error: Error & { reason?: string; cause?: unknown }) => {
        assert.equal(error.reason, 'InvalidIdentityToken');
        assert.ok(!error.message.includes('SECRET'), error.message);
        assert.ok(!String(error.stack).includes('SECRET'));
        assert.equal(error.cause, undefined, 'no cause that a logger would print');
        return true;
      });
    }
  });

  test('a Fulcio error that echoes the token: SigningFailed, token redacted', async () => {
    const token = jwt({ iss: 'https://issuer.example.com', sub: 'someone', secretish: 'SECRET' });
    const tokenPath = join(dir, 'jwt');
    writeFileSync(tokenPath, token);
    const server = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk) => { body += chunk; });
      req.on('end', () => {
        res.writeHead(400, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ message: `rejected request ${body}` }));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const signer = keylessSigner({ fulcioURL: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, tokenPath, certificateAuthorities: [], expectedIdentity: { issuer: 'i', subject: 's' } });
      await assert.rejects(signer.signBlob(Buffer.from('x')), (error: Error & { reason?: string }) => {
        assert.equal(error.reason, 'SigningFailed');
        assert.match(error.message, /\(400\) rejected request/, 'the rest of the message stays');
        assert.ok(!error.message.includes(token) && !error.message.includes('eyJ'), error.message);
        return true;
      });
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  test('identityFromToken: an email identity needs email_verified; unreadable claims are not quoted', () => {
    const iss = 'https://accounts.example.com';
    assert.deepEqual(identityFromToken(jwt({ iss, sub: '123', email: 'a@example.com', email_verified: true }), 'f'), { issuer: iss, subject: 'a@example.com' });
    for (const verified of [undefined, false, 'false']) {
      assert.throws(() => identityFromToken(jwt({ iss, sub: '123', email: 'a@example.com', ...(verified !== undefined && { email_verified: verified }) }), 'f'),
        { reason: 'InvalidIdentityToken', message: /email its issuer has not verified/ });
    }
    assert.deepEqual(identityFromToken(jwt({ iss, sub: '123' }), 'f'), { issuer: iss, subject: '123' });
    const garbled = `eyJhbGciOiJSUzI1NiJ9.${Buffer.from('{"sub":"SECRET-CLAIM"').toString('base64url')}.sig`;
    assert.throws(() => identityFromToken(garbled, 'f'), (error: Error & { reason?: string }) => error.reason === 'InvalidIdentityToken' && !error.message.includes('SECRET'));
  });
});

describe('trust material', () => {
  const keyOnly = (readSecret: TrustOptions['readSecret']): TrustOptions => ({ signing: { key: { secretRef: { name: 'promoter' } } }, readSecret });
  const missingKey = (name: string, key: string) => Object.assign(new Error(`Secret ns/${name} has no key "${key}"; add it`), { reason: 'SecretKeyNotFound' });

  test('cosign.password: only a missing key means "no password"; a failed read is SecretUnavailable, not WrongKeyPassword', async () => {
    const forbidden = keyOnly(async (name, key) => {
      if (key === 'cosign.key') return Buffer.from(COSIGN_KEY);
      throw Object.assign(new Error(`secrets "${name}" is forbidden: 403`), { reason: 'SecretUnreadable' });
    });
    await assert.rejects(artifactSigner(forbidden), { reason: 'SecretUnavailable', message: /cannot read key cosign.password of Secret promoter: .*forbidden/ });
    // A key with an empty password and no cosign.password key loads (controller: SecretKeyNotFound; files: ENOENT).
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const empty = await encryptPrivateKey(privateKey, '', { N: 1024, r: 8, p: 1 });
    for (const absent of [missingKey, () => Object.assign(new Error('ENOENT: no such file'), { code: 'ENOENT' })]) {
      const trust = keyOnly(async (name, key) => {
        if (key === 'cosign.key') return Buffer.from(empty);
        throw absent(name, key);
      });
      assert.ok(await artifactSigner(trust));
    }
    // And a missing password for a key that has one is still WrongKeyPassword.
    await assert.rejects(artifactSigner(keyOnly(async (name, key) => {
      if (key === 'cosign.key') return Buffer.from(COSIGN_KEY);
      throw missingKey(name, key);
    })), { reason: 'WrongKeyPassword' });
  });

  test('keyless signing without a trusted root fails Setup with KeylessNeedsTrustedRoot, saying how to give one', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hoist-setup-unit-'));
    try {
      const tokenPath = join(dir, 'token');
      writeFileSync(tokenPath, 'eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJodHRwczovL2kiLCJzdWIiOiJzIn0.c2ln');
      const ctxFor = (trust: TrustOptions, mode: 'Promote' | 'Plan' = 'Promote') => ({
        edges: [{ src: { host: 'a.example', name: 'x' }, dst: { host: 'b.example', name: 'x' }, digest: DIGEST, tags: [] }],
        options: { mode, concurrency: 1, planConcurrency: 1, trust },
      }) as unknown as RunContext;
      const keyless = (trustedRoot?: unknown): TrustOptions => ({
        signing: { keyless: {} }, keyless: { fulcioURL: 'http://127.0.0.1:9', tokenPath, ...(trustedRoot !== undefined && { trustedRoot }) },
      });
      for (const trust of [keyless(), keyless({ certificateAuthorities: [] })]) {
        const outcome = await setupPhase.run(ctxFor(trust));
        assert.equal(outcome.stop, 'failed');
        assert.equal(outcome.reason, 'KeylessNeedsTrustedRoot');
        assert.match(outcome.message, /controller --trusted-root|--trusted-root FILE/);
        assert.match(outcome.message, /controller\.trustedRoot/);
        assert.match(outcome.message, /hoist promote with --trusted-root/);
        await assert.rejects(artifactSigner(trust), { reason: 'KeylessNeedsTrustedRoot' });
      }
      const ca = readFileSync(new URL('../fixtures/keyless/ca.crt', import.meta.url), 'utf8').replace(/-----[A-Z ]+-----|\s+/g, '');
      const withRoot = await setupPhase.run(ctxFor(keyless({ certificateAuthorities: [{ certChain: { certificates: [{ rawBytes: ca }] } }] })));
      assert.equal(withRoot.stop, undefined, withRoot.message);
      // The public-good Fulcio's roots are built in: no root needs to be given for it.
      const publicGood = await setupPhase.run(ctxFor({ signing: { keyless: {} }, keyless: { fulcioURL: 'https://fulcio.sigstore.dev', tokenPath } }));
      assert.equal(publicGood.stop, undefined, publicGood.message);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
