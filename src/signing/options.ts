// A run's supply-chain trust settings, as signing and verification read them. Defined here, in
// signing, so the pipeline (which passes them) and signing (which reads them) both import down.
import type { PromotionManifestSpec } from '../api/promotion-manifest.ts';

export type SignatureFormat = 'bundle' | 'legacy';

export interface SigningServices {
  /** RFC 3161 endpoint, e.g. https://timestamp.sigstore.dev/api/v1/timestamp. */
  timestampAuthorityURL?: string;
  /** Rekor base URL, e.g. https://rekor.sigstore.dev (v1) or https://log2025-1.rekor.sigstore.dev (v2). */
  rekorURL?: string;
  /** Rekor API major version: 1 (default) or 2. */
  rekorVersion?: 1 | 2;
}

/**
 * Supply-chain trust settings of a run: the spec's verification, signing and attestation
 * sections, and how to reach the key material they name. The CLI reads Secrets from files,
 * the controller from the manifest's own namespace.
 */
export interface TrustOptions {
  verification?: PromotionManifestSpec['verification'];
  signing?: PromotionManifestSpec['signing'];
  attestation?: PromotionManifestSpec['attestation'];
  /** Reads one key of a Secret named in the spec; rejects with a clear message when absent. */
  readSecret?: (name: string, key: string) => Promise<Buffer>;
  /** Identity of the manifest, recorded in promotion attestations. */
  source?: { kind?: string; namespace?: string; name?: string; uid?: string; generation?: number; revision?: string };
  /** Also write legacy `sha256-<hex>.sig` simple-signing signatures, for consumers of cosign before v2.4. */
  legacySignatureTag?: boolean;
  /**
   * Which formats Sign and Attest write: `bundle` (OCI referrers, cosign v3) and/or `legacy`
   * (`.sig`/`.att` tags, what policy-controller and Kyverno read by default). Default both;
   * an explicit legacySignatureTag: false means bundles only. Both are always read.
   */
  signatureFormats?: SignatureFormat[];
  /**
   * sigstore trusted_root.json for verification (a parsed TrustedRoot, an object or text): Fulcio
   * CAs, Rekor and CT logs, timestamp authorities. Default: keyless.trustedRoot, else the
   * public-good root Hoist ships. The controller fills it from a file, ConfigMap or Secret.
   */
  trustedRoot?: unknown;
  /** cosign --insecure-ignore-tlog for spec.verification: accept signatures without a Rekor entry. */
  insecureIgnoreTlog?: boolean;
  /** cosign --insecure-ignore-sct for spec.verification: accept Fulcio certificates without an SCT. */
  insecureIgnoreSCT?: boolean;
  /**
   * Where our signatures get their proofs of time, as Sigstore's signing config names them: an
   * RFC 3161 timestamp authority (cosign v3 asks one by default) and a Rekor (v1 or v2).
   */
  signingServices?: SigningServices;
  /** Keyless material the spec does not carry: where Fulcio is, the token file, the trusted root. */
  keyless?: {
    fulcioURL?: string;
    /** OIDC token file (a projected ServiceAccount token), re-read for every certificate. */
    tokenPath?: string;
    /** sigstore trusted_root.json (object or text): Fulcio roots for verifying keyless signatures. */
    trustedRoot?: unknown;
    /** The identity Fulcio certifies for our token, to recognise our own earlier signatures. */
    identity?: { issuer: string; subject: string };
  };
}
