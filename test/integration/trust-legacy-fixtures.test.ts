// Real legacy cosign signatures from the public-good instance (test/fixtures/sigstore/cosign-legacy)
// pushed into a real registry under `sha256-<hex>.sig`, exactly as cosign stored them, and
// checked through the two ways Hoist meets them: `hoist verify` as a user runs it, and the
// Validate phase of a promotion. Their certificates expired long ago; they pass for their real
// signer at the time their Rekor entry proves, and fail for another identity or key, under
// another digest's tag, or against a private instance's trusted root.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { EdgeOutcome, type RunContext } from '../../src/pipeline/types.ts';
import { validatePhase } from '../../src/pipeline/phases/validate.ts';
import { RegistryClient } from '../../src/registry/index.ts';
import { checkAdmission } from '../../src/signing/admission.ts';
import { legacyManifest } from '../../src/signing/formats.ts';
import { loadPublicKey } from '../../src/signing/keys.ts';
import type { SignerPolicy } from '../../src/signing/policy.ts';
import { publicGoodTrustedRoot } from '../../src/signing/trusted-root.ts';
import { runHoist } from '../support/cli.ts';
import { pushImage, sha256 } from '../support/images.ts';
import { startRegistry, type TestRegistry } from '../support/registry.ts';

const fixtures = new URL('../fixtures/sigstore/', import.meta.url).pathname;
const read = (path: string) => readFileSync(`${fixtures}${path}`);

interface Meta { digest: string; identity?: string; issuer?: string; key?: string; rekor: { logIndex: number; integratedTime: number } }
const cases = ['containers-image-fulcio-rekor', 'salrashid-go-bazel-gha', 'containers-image-key-rekor'] as const;
const metaOf = (name: string) => JSON.parse(read(`cosign-legacy/${name}/meta.json`).toString()) as Meta;
const otherDigest = `sha256:${'5e'.repeat(32)}`;

/** Pushes a fixture's `.sig` manifest, config and payload layer under the tag of `digest`. */
async function pushSignature(registry: TestRegistry, repo: string, name: string, digest: string): Promise<void> {
  const manifest = read(`cosign-legacy/${name}/sig-manifest.json`);
  const doc = JSON.parse(manifest.toString()) as { layers: { mediaType: string; digest: string; size: number; annotations?: Record<string, string> }[] };
  const payload = read(`cosign-legacy/${name}/payload.json`);
  // The config is cosign's fixed layout listing the layer digests; Hoist writes it byte for byte the same.
  const config = legacyManifest(doc.layers).config;
  assert.equal(sha256(payload), doc.layers[0]!.digest);
  await pushImage(registry, repo, {
    digest: sha256(manifest), mediaType: 'application/vnd.oci.image.manifest.v1+json', bytes: manifest, children: [],
    blobs: [
      { digest: config.digest, size: config.size, mediaType: 'application/vnd.oci.image.config.v1+json', data: config.data },
      { digest: sha256(payload), size: payload.length, mediaType: 'application/vnd.dev.cosign.simplesigning.v1+json', data: payload },
    ],
  }, [`${digest.replace(':', '-')}.sig`]);
}

const signerFlags = (meta: Meta, name: string) => (meta.key
  ? ['--key', `${fixtures}cosign-legacy/${name}/${meta.key}`]
  : ['--certificate-identity', meta.identity!, '--certificate-oidc-issuer', meta.issuer!]);

describe('real legacy .sig signatures in a registry', () => {
  let registry: TestRegistry;
  before(async () => {
    registry = await startRegistry();
    for (const name of cases) {
      const meta = metaOf(name);
      await pushSignature(registry, `legacy/${name}`, name, meta.digest);
      // The same signature under another digest's tag: valid cryptography, the wrong image.
      await pushSignature(registry, `legacy/${name}`, name, otherDigest);
    }
  });
  after(() => registry?.stop());

  for (const name of cases) {
    test(`${name}: hoist verify finds its signature valid for its signer but fails the missing image; fails for another signer, for another digest, against a private root`, async () => {
      const meta = metaOf(name);
      const image = `${registry.host}/legacy/${name}`;
      // Only the signature is in the registry, not the image: as cosign, that is not verified (exit 1),
      // but the stored signature is still checked and listed, verified for its signer.
      const ok = await runHoist(['verify', `${image}@${meta.digest}`, ...signerFlags(meta, name), '-o', 'json']);
      assert.equal(ok.code, 1, ok.stdout + ok.stderr);
      const report = JSON.parse(ok.stdout) as { verified: boolean; imageMissing?: boolean; problems: string[]; signatures: { format: string; signer: string; timestamps: { kind: string; time: string }[]; tlogEntries: { logIndex: string }[] }[] };
      assert.equal(report.verified, false);
      assert.equal(report.imageMissing, true, 'only the signature is in the registry, not the image');
      assert.match(report.problems[0]!, /^DigestNotFound: .* is not in the registry/);
      assert.equal(report.signatures.length, 1);
      assert.equal(report.signatures[0]!.format, 'legacy');
      assert.equal(report.signatures[0]!.signer, meta.key ? `key ${fixtures}cosign-legacy/${name}/${meta.key}` : `${meta.identity} from ${meta.issuer}`);
      assert.deepEqual(report.signatures[0]!.tlogEntries.map((e) => e.logIndex), [String(meta.rekor.logIndex)]);
      if (meta.identity) {
        assert.deepEqual(report.signatures[0]!.timestamps, [{ kind: 'transparency-log', time: new Date(meta.rekor.integratedTime * 1000).toISOString() }]);
      }

      const table = await runHoist(['verify', `${image}@${meta.digest}`, ...signerFlags(meta, name)]);
      assert.equal(table.code, 1, table.stderr);
      assert.match(table.stdout, /^NOT verified: .* \(the image is not in the registry\)\n  signature {3}legacy [\s\S]*DigestNotFound/);

      const other = meta.key
        ? ['--key', `${fixtures}bundles/sigstore-go/publish_key.pub`]
        : ['--certificate-identity', 'someone-else@example.com', '--certificate-oidc-issuer', meta.issuer!];
      const wrongSigner = await runHoist(['verify', `${image}@${meta.digest}`, ...other]);
      assert.equal(wrongSigner.code, 1, wrongSigner.stdout);
      assert.match(wrongSigner.stdout, /^NOT verified: [\s\S]*(IdentityMismatch|SignatureMismatch)/);

      const wrongDigest = await runHoist(['verify', `${image}@${otherDigest}`, ...signerFlags(meta, name)]);
      assert.equal(wrongDigest.code, 1, wrongDigest.stdout);
      assert.match(wrongDigest.stdout, /SignedDigestMismatch: the payload's docker-manifest-digest is sha256:/);

      const privateRoot = await runHoist(['verify', `${image}@${meta.digest}`, ...signerFlags(meta, name), '--trusted-root', `${fixtures}trusted-roots/private-scaffolding.json`]);
      assert.equal(privateRoot.code, 1, privateRoot.stdout);
      assert.match(privateRoot.stdout, /CertificateNotTrusted|TransparencyLogNotVerified/);
    });
  }

  test('admission check: what policy-controller\'s defaults would admit, with the reason when not', async () => {
    const client = new RegistryClient({});
    try {
      const root = await publicGoodTrustedRoot();
      for (const name of cases) {
        const meta = metaOf(name);
        const repo = { host: registry.host, name: `legacy/${name}` };
        const policy: SignerPolicy = meta.key
          ? { keys: [{ name: meta.key, key: loadPublicKey(read(`cosign-legacy/${name}/${meta.key}`)) }], identities: [], certificateAuthorities: [], trustedRoot: root }
          : { keys: [], identities: [{ issuer: meta.issuer!, subject: meta.identity! }], certificateAuthorities: [], trustedRoot: root };
        // Allowances a Hoist policy may make do not carry over: policy-controller requires the log.
        const admitted = await checkAdmission(client, repo, meta.digest, { ...policy, ignoreTlog: true });
        assert.equal(admitted.admissible, true, admitted.message);
        assert.match(admitted.message, new RegExp(`\\.sig by .*, Rekor entry ${meta.rekor.logIndex} at `));
        const copied = await checkAdmission(client, repo, otherDigest, policy);
        assert.deepEqual([copied.admissible, copied.reason], [false, 'SignedDigestMismatch']);
        const unsigned = await checkAdmission(client, repo, `sha256:${'0'.repeat(64)}`, policy);
        assert.deepEqual([unsigned.admissible, unsigned.reason], [false, 'NoLegacySignature']);
      }
    } finally {
      await client.close();
    }
  });

  test('Validate accepts them for their signers and refuses the copy under another digest', async () => {
    const client = new RegistryClient({});
    try {
      const meta = metaOf('containers-image-fulcio-rekor');
      const repo = { host: registry.host, name: 'legacy/containers-image-fulcio-rekor' };
      const edge = (digest: string) => new EdgeOutcome({ src: repo, dst: { host: 'prod.example', name: 'app' }, digest, tags: ['v1'] });
      const plan = [edge(meta.digest), edge(otherDigest)];
      const ctx = {
        edges: plan.map((o) => o.edge), outcomes: plan, attestations: [], client, signal: AbortSignal.timeout(60_000), emit: () => {},
        options: {
          mode: 'Plan', concurrency: 2, planConcurrency: 2,
          // As spec.verification.signatures says it; the trusted root is the built-in public-good one.
          trust: { verification: { signatures: { mode: 'Enforce', identities: [{ issuer: meta.issuer!, subject: meta.identity! }] } } },
        },
      } as unknown as RunContext;
      const outcome = await validatePhase.run(ctx);
      assert.match(outcome.message, /1 of 2 staging digests verified, 1 refused/);
      assert.equal(plan[0]!.state, 'promote', 'the real signature passes');
      assert.equal(plan[1]!.state, 'unverified');
      assert.equal(plan[1]!.reason, 'SignatureNotVerified');
      assert.match(plan[1]!.detail ?? '', /SignedDigestMismatch/);
    } finally {
      await client.close();
    }
  });
});
