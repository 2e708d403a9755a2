// A run's supply-chain trust settings, as signing and verification read them. Defined here, in
// signing, so the pipeline (which passes them) and signing (which reads them) both import down.
import type { PromotionManifestSpec } from '../api/promotion-manifest.ts';

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
