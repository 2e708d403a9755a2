// Real legacy cosign `.sig` signatures (test/fixtures/sigstore/cosign-legacy), signed by others on
// the public-good instance years or months ago: their Fulcio certificates expired long since, so
// they verify only at the time their Rekor entry's signed entry timestamp proves. Each must pass
// for its real signer and digest, and fail for another identity, another key, another digest,
// or a trusted root that is not public-good's.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { bundleToJSON } from '@sigstore/bundle';
import type { Found } from '../../src/signing/discover.ts';
import { verifyImageSignature } from '../../src/signing/image.ts';
import { loadPublicKey } from '../../src/signing/keys.ts';
import { bundleFromLegacySignature, legacyAnnotationsFromBundle } from '../../src/signing/legacy.ts';
import type { SignerPolicy } from '../../src/signing/policy.ts';
import { parseTrustedRoot, publicGoodTrustedRoot, type TrustedRoot } from '../../src/signing/trusted-root.ts';
import type { Verdict } from '../../src/signing/verify.ts';

const fixtures = new URL('../fixtures/sigstore/', import.meta.url).pathname;
const read = (path: string) => readFileSync(`${fixtures}${path}`);
const rootFile = (name: string) => parseTrustedRoot(read(`trusted-roots/${name}.json`), name);

interface Meta { digest: string; identity?: string; issuer?: string; key?: string; rekor: { integratedTime: number; logIndex: number } }

function legacyCase(name: string) {
  const meta = JSON.parse(read(`cosign-legacy/${name}/meta.json`).toString()) as Meta;
  const payload = read(`cosign-legacy/${name}/payload.json`);
  const annotations = JSON.parse(read(`cosign-legacy/${name}/annotations.json`).toString()) as Record<string, string>;
  const found: Found = {
    kind: 'simpleSigning', tag: `${meta.digest.replace(':', '-')}.sig`,
    layer: { mediaType: 'application/vnd.dev.cosign.simplesigning.v1+json', digest: `sha256:${'0'.repeat(64)}`, size: payload.length },
    payload, signature: Buffer.from(annotations['dev.cosignproject.cosign/signature']!, 'base64'), annotations,
    ...(annotations['dev.sigstore.cosign/certificate'] && { certificate: annotations['dev.sigstore.cosign/certificate'] }),
  };
  const policy = (trustedRoot: TrustedRoot, override: Partial<SignerPolicy> = {}): SignerPolicy => ({
    keys: meta.key ? [{ name: meta.key, key: loadPublicKey(read(`cosign-legacy/${name}/${meta.key}`)) }] : [],
    identities: meta.identity ? [{ issuer: meta.issuer!, subject: meta.identity }] : [],
    certificateAuthorities: [], trustedRoot, ...override,
  });
  return { meta, payload, annotations, found, policy };
}

const reasonOf = (verdict: Verdict) => ('error' in verdict ? verdict.reason : 'verified');
const anotherDigest = `sha256:${'ab'.repeat(32)}`;

describe('legacy .sig signatures from the public-good instance', () => {
  for (const name of ['containers-image-fulcio-rekor', 'salrashid-go-bazel-gha', 'containers-image-key-rekor']) {
    test(`${name}: verified for its signer and digest at the Rekor entry's time, refused otherwise`, async () => {
      const { meta, found, policy } = legacyCase(name);
      const publicGood = await publicGoodTrustedRoot();
      const verdict = verifyImageSignature(found, policy(publicGood), meta.digest);
      assert.ok('verified' in verdict, JSON.stringify(verdict));
      const at = new Date(meta.rekor.integratedTime * 1000);
      assert.deepEqual(verdict.verified.tlogEntries.map((e) => [e.logIndex, e.integratedTime?.toISOString()]), [[String(meta.rekor.logIndex), at.toISOString()]]);
      if (meta.identity) {
        assert.equal(verdict.verified.signer, `${meta.identity} from ${meta.issuer}`);
        assert.deepEqual(verdict.verified.timestamps, [{ kind: 'transparency-log', time: at }]);
      } else {
        assert.equal(verdict.verified.signer, `key ${meta.key}`);
      }

      // The payload names one image: a signature copied to another digest's tag proves nothing about it.
      assert.equal(reasonOf(verifyImageSignature(found, policy(publicGood), anotherDigest)), 'SignedDigestMismatch');
      // Another signer.
      if (meta.identity) {
        assert.equal(reasonOf(verifyImageSignature(found, policy(publicGood, { identities: [{ issuer: meta.issuer!, subject: 'someone@example.com' }] }), meta.digest)), 'IdentityMismatch');
        assert.equal(reasonOf(verifyImageSignature(found, policy(publicGood, { identities: [{ issuer: 'https://accounts.google.com', subject: meta.identity }] }), meta.digest)), 'IdentityMismatch');
      } else {
        const other = loadPublicKey(read('bundles/sigstore-go/publish_key.pub'));
        assert.equal(reasonOf(verifyImageSignature(found, policy(publicGood, { keys: [{ name: 'other', key: other }] }), meta.digest)), 'SignatureMismatch');
      }
      // A private instance's root trusts neither public-good's Fulcio nor its Rekor.
      assert.match(reasonOf(verifyImageSignature(found, policy(rootFile('private-scaffolding')), meta.digest)), /^(CertificateNotTrusted|TransparencyLogNotVerified)$/);
      // Ignoring the log leaves an expired certificate with no verified time: refused, never checked at "now".
      if (meta.identity) assert.equal(reasonOf(verifyImageSignature(found, policy(publicGood, { ignoreTlog: true }), meta.digest)), 'NoVerifiedTimestamp');
    });
  }

  test('older public-good roots that hold the same Fulcio CA and Rekor key verify them too', () => {
    for (const root of ['public-good-2025-02', 'public-good-2025-03-cosign']) {
      const { meta, found, policy } = legacyCase('containers-image-fulcio-rekor');
      assert.equal(reasonOf(verifyImageSignature(found, policy(rootFile(root)), meta.digest)), 'verified', root);
    }
  });

  test('a tampered layer fails: changed payload, changed signed entry timestamp, another certificate', async () => {
    const publicGood = await publicGoodTrustedRoot();
    const { meta, found, policy, annotations } = legacyCase('containers-image-fulcio-rekor');
    const payload = Buffer.from(found.kind === 'simpleSigning' ? found.payload.toString().replace('"optional":', '"optional" :') : '');
    assert.notEqual(reasonOf(verifyImageSignature({ ...found, payload } as Found, policy(publicGood), meta.digest)), 'verified');
    const rekor = JSON.parse(annotations['dev.sigstore.cosign/bundle']!) as { Payload: { integratedTime: number } };
    rekor.Payload.integratedTime += 1;
    const moved = { ...annotations, 'dev.sigstore.cosign/bundle': JSON.stringify(rekor) };
    assert.equal(reasonOf(verifyImageSignature({ ...found, annotations: moved } as Found, policy(publicGood), meta.digest)), 'TransparencyLogNotVerified');
    const other = legacyCase('salrashid-go-bazel-gha').annotations['dev.sigstore.cosign/certificate']!;
    const swapped = { ...annotations, 'dev.sigstore.cosign/certificate': other };
    assert.notEqual(reasonOf(verifyImageSignature({ ...found, annotations: swapped, certificate: other } as Found, policy(publicGood), meta.digest)), 'verified');
  });

  test('the layer becomes the bundle the fixture README describes, and back into the same annotations', () => {
    for (const name of ['containers-image-fulcio-rekor', 'containers-image-key-rekor', 'salrashid-go-bazel-gha']) {
      const { payload, annotations } = legacyCase(name);
      const bundle = bundleFromLegacySignature(payload, annotations);
      const expected = JSON.parse(read(`cosign-legacy/${name}/converted.sigstore.json`).toString()) as { verificationMaterial: { tlogEntries: unknown[] }; messageSignature: unknown };
      const ours = bundleToJSON(bundle) as unknown as typeof expected;
      assert.deepEqual(ours.verificationMaterial.tlogEntries, expected.verificationMaterial.tlogEntries, name);
      assert.deepEqual(ours.messageSignature, expected.messageSignature, name);
      const back = legacyAnnotationsFromBundle(bundle);
      for (const key of ['dev.cosignproject.cosign/signature', 'dev.sigstore.cosign/bundle']) {
        assert.deepEqual(JSON.parse(JSON.stringify(back[key])), annotations[key], `${name} ${key}`);
      }
      if (annotations['dev.sigstore.cosign/certificate']) {
        assert.equal(back['dev.sigstore.cosign/certificate']!.replace(/\s+/g, ''), annotations['dev.sigstore.cosign/certificate']!.replace(/\s+/g, ''));
      }
    }
  });
});
