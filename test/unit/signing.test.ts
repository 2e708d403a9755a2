// Signing building blocks without a registry: cosign's encrypted key format (a key written by
// `cosign generate-key-pair`), key hints, the NaCl secretbox, simple-signing payloads, the
// cosign v3 bundle manifest layout, identity matching, and verifying what our signer signs.
import assert from 'node:assert/strict';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import { buildStatement, IN_TOTO_PAYLOAD_TYPE } from '../../src/provenance/statement.ts';
import type { Found } from '../../src/signing/discover.ts';
import { bundleManifest, COSIGN_SIGN_PREDICATE, legacyTag } from '../../src/signing/formats.ts';
import { encryptPrivateKey, keyHint, loadPrivateKey, loadPublicKey } from '../../src/signing/keys.ts';
import { identityMatches, type SignerPolicy } from '../../src/signing/policy.ts';
import { secretboxOpen, secretboxSeal } from '../../src/signing/secretbox.ts';
import { keySigner } from '../../src/signing/signer.ts';
import { simpleSigningDigest, simpleSigningPayload } from '../../src/signing/simple-signing.ts';
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
  const policyOf = (key = ours.publicKey): SignerPolicy => ({ keys: [{ name: 'k', key }], identities: [], certificateAuthorities: [] });
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
