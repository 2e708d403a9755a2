// Trust settings for a one-off CLI run. Two sources, as kubectl users and cosign users expect:
// PromotionManifest YAML carries spec.verification/signing/attestation and names Secrets, which
// --secrets-dir serves (Secret manifests or a mounted Secret volume: secrets.ts); or
// cosign-style flags (--key, --verify-key, --builder-id) describe the policy directly. Flags win.
// Keyless material (Fulcio, the OIDC token, the trusted root) is not part of a spec, so those
// flags complete either source.
import { readFile } from 'node:fs/promises';
import type { PromotionManifestSpec } from '../api/promotion-manifest.ts';
import type { TrustOptions } from '../pipeline/index.ts';
import { TrustError } from '../signing/errors.ts';
import { readSigningConfigFile } from '../signing/signing-config.ts';
import { isPublicGoodFulcio, loadTrustedRoot } from '../signing/trust-material.ts';
import { UsageError } from './command.ts';
import { secretsDirHelp } from './secrets.ts';

/** What Plan and Validate use: which signatures and provenance staging digests must carry. */
export const verifyFlags = {
  'verify-key': { type: 'string', multiple: true },
  'verify-identity': { type: 'string', multiple: true },
  'verify-mode': { type: 'string' },
  'builder-id': { type: 'string', multiple: true },
  'trusted-root': { type: 'string' },
  'insecure-ignore-tlog': { type: 'boolean', default: false },
  'insecure-ignore-sct': { type: 'boolean', default: false },
} as const;

/** What only Promote uses: signing what it promoted and the promotion attestation. */
export const signFlags = {
  key: { type: 'string' },
  keyless: { type: 'boolean', default: false },
  'fulcio-url': { type: 'string' },
  'identity-token-file': { type: 'string' },
  'timestamp-server-url': { type: 'string' },
  'rekor-url': { type: 'string' },
  'signing-config': { type: 'string' },
  'signature-format': { type: 'string', multiple: true },
  'skip-attestation': { type: 'boolean', default: false },
  'legacy-signature-tag': { type: 'boolean', default: false },
} as const;

export const trustFlags = { ...verifyFlags, ...signFlags } as const;

const defaultFulcioURL = 'https://fulcio.sigstore.dev';

export const verifyFlagHelp = `
Verification flags (cosign-compatible; a PromotionManifest's own spec.verification is used when none is given):
      --verify-key FILE        staging digests must carry a signature by this public key (repeatable)
      --verify-identity ISSUER=SUBJECT_REGEXP
                               ... or a keyless signature whose certificate has this OIDC issuer and
                               a subject matching the regexp (repeatable; needs --trusted-root)
      --verify-mode MODE       Enforce (refuse unverified digests; default) or Warn
      --builder-id ID          staging digests must have SLSA provenance from this builder (repeatable)
      --trusted-root FILE      sigstore trusted_root.json: Fulcio CAs, Rekor and CT logs, timestamp
                               authorities (default: the public-good root built into hoist)
      --insecure-ignore-tlog   accept staging signatures without a Rekor entry (cosign's flag)
      --insecure-ignore-sct    accept Fulcio certificates without an SCT (cosign's flag)`;

export const signFlagHelp = `
Signing flags (a PromotionManifest's own spec.signing and spec.attestation are used when none is given):
      --key FILE               sign promoted digests with this cosign private key ($COSIGN_PASSWORD)
      --keyless                sign keyless: a Fulcio certificate for --identity-token-file's identity
      --fulcio-url URL         Fulcio for keyless signing (default ${defaultFulcioURL}); a Fulcio
                               other than the public-good one needs --trusted-root, so hoist
                               recognises its own signatures
      --identity-token-file FILE  OIDC ID token Fulcio accepts (re-read for every certificate)
      --timestamp-server-url URL  RFC 3161 timestamp authority for our signatures (cosign's flag)
      --rekor-url URL          Rekor v1 log for our signatures
      --signing-config FILE    Sigstore signing config: Fulcio, Rekor (v1 or v2) and TSA to sign with
      --signature-format FMT   bundle, legacy or both (default both; repeatable)
      --skip-attestation       sign, but attach no promotion attestation
      --legacy-signature-tag   also write the legacy sha256-<hex>.sig tag (the default now)`;

interface TrustFlagValues {
  key?: string;
  'verify-key'?: string[];
  'verify-mode'?: string;
  'builder-id'?: string[];
  'skip-attestation'?: boolean;
  'legacy-signature-tag'?: boolean;
  keyless?: boolean;
  'fulcio-url'?: string;
  'identity-token-file'?: string;
  'trusted-root'?: string;
  'verify-identity'?: string[];
  'insecure-ignore-tlog'?: boolean;
  'insecure-ignore-sct'?: boolean;
  'timestamp-server-url'?: string;
  'rekor-url'?: string;
  'signing-config'?: string;
  'signature-format'?: string[];
}

type Identity = NonNullable<NonNullable<Sections['verification']>['signatures']>['identities'];

type Sections = Pick<PromotionManifestSpec, 'verification' | 'signing' | 'attestation'>;

const sectionsOf = (spec: PromotionManifestSpec): Sections => ({
  ...(spec.verification && { verification: spec.verification }),
  ...(spec.signing && { signing: spec.signing }),
  ...(spec.attestation && { attestation: spec.attestation }),
});

async function readOrExplain(file: string, what: string): Promise<Buffer> {
  try {
    return await readFile(file);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    // The code stays on the error: a missing cosign.password file means "no password".
    throw Object.assign(new Error(`${what}: cannot read ${file}: ${code ?? (error as Error).message}`), code ? { code } : {});
  }
}

/** `ISSUER=SUBJECT_REGEXP`: split at the first `=`, since issuers are URLs and regexps may hold `=`. */
function parseVerifyIdentity(text: string): NonNullable<Identity>[number] {
  const at = text.indexOf('=');
  const issuer = at > 0 ? text.slice(0, at) : '';
  const subjectRegExp = at > 0 ? text.slice(at + 1) : '';
  if (!issuer || !subjectRegExp) {
    throw new UsageError(`--verify-identity must be ISSUER=SUBJECT_REGEXP, e.g. https://token.actions.githubusercontent.com=^https://github.com/org/, got "${text}"`);
  }
  try {
    new RegExp(subjectRegExp, 'u');
  } catch (error) {
    throw new UsageError(`--verify-identity ${text}: the subject is not a valid regular expression (${(error as Error).message})`);
  }
  return { issuer, subjectRegExp };
}

/** Fulcio, token and trusted root from flags; the root is read and checked now, once per run. */
async function keylessFromFlags(values: TrustFlagValues): Promise<NonNullable<TrustOptions['keyless']>> {
  let trustedRoot: object | undefined;
  if (values['trusted-root'] !== undefined) {
    trustedRoot = await loadTrustedRoot(values['trusted-root']).catch((error: unknown) => {
      throw error instanceof TrustError ? new UsageError(`--trusted-root: ${error.message}`) : error;
    });
  }
  return {
    fulcioURL: values['fulcio-url'] ?? defaultFulcioURL,
    ...(values['identity-token-file'] && { tokenPath: values['identity-token-file'] }),
    ...(trustedRoot && { trustedRoot }),
  };
}

/** Keyless settings that cannot work are usage errors now, not a failed run later. */
function checkKeyless(trust: TrustOptions | undefined, values: TrustFlagValues): void {
  if (trust?.signing?.keyless && !values['identity-token-file']) {
    throw new UsageError('keyless signing needs --identity-token-file FILE: an OIDC ID token Fulcio accepts');
  }
  // The public-good Fulcio's roots are built in; any other Fulcio's must be given.
  if (trust?.signing?.keyless && !values['trusted-root'] && !isPublicGoodFulcio(values['fulcio-url'] ?? defaultFulcioURL)) {
    throw new UsageError('keyless signing with a Fulcio other than fulcio.sigstore.dev needs --trusted-root FILE: without its roots Hoist cannot recognise its own signatures and would sign again every run');
  }
}

/** Verification thresholds, signing services and formats: cosign's flags, a Sigstore signing config. */
async function sigstoreFromFlags(values: TrustFlagValues): Promise<Partial<TrustOptions>> {
  const formats = (values['signature-format'] ?? []).flatMap((f) => f.split(',')).map((f) => f.trim()).filter(Boolean)
    .flatMap((f) => (f === 'both' ? ['bundle', 'legacy'] : [f]));
  for (const f of formats) if (f !== 'bundle' && f !== 'legacy') throw new UsageError(`--signature-format must be bundle, legacy or both, got "${f}"`);
  let fromConfig: Awaited<ReturnType<typeof readSigningConfigFile>> | undefined;
  if (values['signing-config'] !== undefined) {
    fromConfig = await readSigningConfigFile(values['signing-config']).catch((error: unknown) => {
      throw error instanceof TrustError ? new UsageError(`--signing-config: ${error.message}`) : error;
    });
  }
  const services = {
    ...fromConfig?.services,
    ...(values['rekor-url'] && { rekorURL: values['rekor-url'], rekorVersion: 1 as const }),
    ...(values['timestamp-server-url'] && { timestampAuthorityURL: values['timestamp-server-url'] }),
  };
  return {
    ...(values['insecure-ignore-tlog'] && { insecureIgnoreTlog: true }),
    ...(values['insecure-ignore-sct'] && { insecureIgnoreSCT: true }),
    ...(Object.keys(services).length > 0 && { signingServices: services }),
    ...(formats.length > 0 && { signatureFormats: formats as ('bundle' | 'legacy')[] }),
    ...(fromConfig?.fulcioURL && !values['fulcio-url'] && { fulcioFromConfig: fromConfig.fulcioURL }),
  };
}

export interface TrustContext {
  /** Promote signs and attests; Plan only verifies, so the spec's signing settings are not its business. */
  sign: boolean;
  /** One key of a Secret the specs name (--secrets-dir); undefined when no directory was given. */
  readSecret?: ((name: string, key: string) => Promise<Buffer>) | undefined;
}

export async function trustFromFlags(values: TrustFlagValues, resourceSpecs: (PromotionManifestSpec | undefined)[], context: TrustContext): Promise<TrustOptions | undefined> {
  const trust = await trustFromSources(values, resourceSpecs, context);
  if (context.sign) checkKeyless(trust, values);
  const { fulcioFromConfig, ...sigstore } = await sigstoreFromFlags(values) as Partial<TrustOptions> & { fulcioFromConfig?: string };
  if (!trust) return Object.keys(sigstore).length > 0 ? sigstore : undefined;
  const withSigstore: TrustOptions = { ...trust, ...sigstore };
  if (values['trusted-root'] !== undefined || withSigstore.signing?.keyless || (withSigstore.verification?.signatures?.identities?.length ?? 0) > 0) {
    const keyless = await keylessFromFlags(values);
    if (fulcioFromConfig) keyless.fulcioURL = fulcioFromConfig;
    return { ...withSigstore, keyless };
  }
  return withSigstore;
}

function trustFromSources(values: TrustFlagValues, resourceSpecs: (PromotionManifestSpec | undefined)[], context: TrustContext): TrustOptions | undefined {
  const verifyKeys = values['verify-key'] ?? [];
  const builderIds = values['builder-id'] ?? [];
  const identities = (values['verify-identity'] ?? []).map(parseVerifyIdentity);
  const verifying = verifyKeys.length > 0 || identities.length > 0;
  const fromFlags = values.key !== undefined || values.keyless === true || verifying || builderIds.length > 0;
  const mode = values['verify-mode'] ?? 'Enforce';
  if (mode !== 'Enforce' && mode !== 'Warn') throw new UsageError(`--verify-mode must be Enforce or Warn, got "${mode}"`);
  if (builderIds.length > 0 && !verifying) {
    throw new UsageError('--builder-id needs --verify-key or --verify-identity: provenance is trusted only when signed by a known signer');
  }
  if (values.key !== undefined && values.keyless) throw new UsageError('give one of --key or --keyless');
  const common = { ...(values['legacy-signature-tag'] && { legacySignatureTag: true }) };

  if (fromFlags) {
    // Synthetic Secret names map the flags onto the spec's shape and its readSecret contract.
    const files = new Map<string, string>();
    verifyKeys.forEach((file, i) => files.set(`verify-key-${i}/cosign.pub`, file));
    if (values.key) files.set('signing-key/cosign.key', values.key);
    const keys = verifyKeys.map((_, i) => ({ secretRef: { name: `verify-key-${i}` } }));
    return {
      ...common,
      ...(verifying && {
        verification: {
          signatures: { mode, ...(keys.length > 0 && { keys }), ...(identities.length > 0 && { identities }) },
          ...(builderIds.length > 0 && { provenance: { mode, builderIds } }),
        },
      }),
      ...(values.key && { signing: { key: { secretRef: { name: 'signing-key' } } } }),
      ...(values.keyless && { signing: { keyless: {} } }),
      attestation: { enabled: !values['skip-attestation'] },
      readSecret: async (name, key) => {
        if (name === 'signing-key' && key === 'cosign.password') return Buffer.from(process.env.COSIGN_PASSWORD ?? '');
        const file = files.get(`${name}/${key}`);
        if (!file) throw new Error(`no ${key} for ${name}`);
        return readOrExplain(file, `--${name.startsWith('verify') ? 'verify-key' : 'key'}`);
      },
    } as TrustOptions;
  }

  const present = resourceSpecs.filter((s): s is PromotionManifestSpec => s !== undefined).map(sectionsOf)
    .map((s): Sections => (context.sign || !s.verification ? (context.sign ? s : {}) : { verification: s.verification }));
  const distinct = new Set(present.map((s) => JSON.stringify(s)));
  if (distinct.size === 0 || (distinct.size === 1 && Object.keys(present[0]!).length === 0)) {
    return Object.keys(common).length > 0 ? common : undefined;
  }
  if (distinct.size > 1 || present.length !== resourceSpecs.length) {
    throw new UsageError('the manifests carry different verification/signing settings; run them one at a time, or give trust flags for all');
  }
  const { readSecret } = context;
  return {
    ...common,
    ...present[0]!,
    readSecret: async (name, key) => {
      if (!readSecret) throw new Error(`the manifest names Secret "${name}"; pass --secrets-dir DIR holding ${secretsDirHelp(name)}`);
      return readSecret(name, key);
    },
  };
}
