// Trust settings for a one-off CLI run. Two sources, as kubectl users and cosign users expect:
// PromotionManifest YAML carries spec.verification/signing/attestation and names Secrets, which
// --secrets-dir serves from files laid out as a mounted Secret volume (DIR/<secret>/<key>); or
// cosign-style flags (--key, --verify-key, --builder-id) describe the policy directly. Flags win.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { PromotionManifestSpec } from '../api/promotion-manifest.ts';
import type { TrustOptions } from '../pipeline/index.ts';
import { UsageError } from './command.ts';

export const trustFlags = {
  key: { type: 'string' },
  'verify-key': { type: 'string', multiple: true },
  'verify-mode': { type: 'string' },
  'builder-id': { type: 'string', multiple: true },
  'skip-attestation': { type: 'boolean', default: false },
  'legacy-signature-tag': { type: 'boolean', default: false },
  'secrets-dir': { type: 'string' },
} as const;

export const trustFlagHelp = `
Trust flags (cosign-compatible keys; a PromotionManifest's own spec is used when none is given):
      --verify-key FILE        staging digests must carry a signature by this public key (repeatable)
      --verify-mode MODE       Enforce (refuse unverified digests; default) or Warn
      --builder-id ID          staging digests must have SLSA provenance from this builder (repeatable)
      --key FILE               sign promoted digests with this cosign private key ($COSIGN_PASSWORD)
      --skip-attestation       sign, but attach no promotion attestation
      --legacy-signature-tag   also write the legacy sha256-<hex>.sig tag
      --secrets-dir DIR        Secrets named by PromotionManifest specs, as DIR/<secret>/<key>`;

interface TrustFlagValues {
  key?: string;
  'verify-key'?: string[];
  'verify-mode'?: string;
  'builder-id'?: string[];
  'skip-attestation'?: boolean;
  'legacy-signature-tag'?: boolean;
  'secrets-dir'?: string;
}

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
    throw new Error(`${what}: cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
}

export function trustFromFlags(values: TrustFlagValues, resourceSpecs: (PromotionManifestSpec | undefined)[]): TrustOptions | undefined {
  const verifyKeys = values['verify-key'] ?? [];
  const builderIds = values['builder-id'] ?? [];
  const fromFlags = values.key !== undefined || verifyKeys.length > 0 || builderIds.length > 0;
  const mode = values['verify-mode'] ?? 'Enforce';
  if (mode !== 'Enforce' && mode !== 'Warn') throw new UsageError(`--verify-mode must be Enforce or Warn, got "${mode}"`);
  if (builderIds.length > 0 && verifyKeys.length === 0) {
    throw new UsageError('--builder-id needs --verify-key: provenance is trusted only when signed by a known key');
  }
  const common = { ...(values['legacy-signature-tag'] && { legacySignatureTag: true }) };

  if (fromFlags) {
    // Synthetic Secret names map the flags onto the spec's shape and its readSecret contract.
    const files = new Map<string, string>();
    verifyKeys.forEach((file, i) => files.set(`verify-key-${i}/cosign.pub`, file));
    if (values.key) files.set('signing-key/cosign.key', values.key);
    const keys = verifyKeys.map((_, i) => ({ secretRef: { name: `verify-key-${i}` } }));
    return {
      ...common,
      ...((verifyKeys.length > 0) && {
        verification: {
          signatures: { mode, keys },
          ...(builderIds.length > 0 && { provenance: { mode, builderIds } }),
        },
      }),
      ...(values.key && { signing: { key: { secretRef: { name: 'signing-key' } } } }),
      attestation: { enabled: !values['skip-attestation'] },
      readSecret: async (name, key) => {
        if (name === 'signing-key' && key === 'cosign.password') return Buffer.from(process.env.COSIGN_PASSWORD ?? '');
        const file = files.get(`${name}/${key}`);
        if (!file) throw new Error(`no ${key} for ${name}`);
        return readOrExplain(file, `--${name.startsWith('verify') ? 'verify-key' : 'key'}`);
      },
    } as TrustOptions;
  }

  const present = resourceSpecs.filter((s): s is PromotionManifestSpec => s !== undefined).map(sectionsOf);
  const distinct = new Set(present.map((s) => JSON.stringify(s)));
  if (distinct.size === 0 || (distinct.size === 1 && Object.keys(present[0]!).length === 0)) {
    return Object.keys(common).length > 0 ? common : undefined;
  }
  if (distinct.size > 1 || present.length !== resourceSpecs.length) {
    throw new UsageError('the manifests carry different verification/signing settings; run them one at a time, or give trust flags for all');
  }
  const dir = values['secrets-dir'];
  return {
    ...common,
    ...present[0]!,
    readSecret: async (name, key) => {
      if (!dir) throw new Error(`the manifest names Secret "${name}"; pass --secrets-dir DIR with ${name}/${key} in it`);
      return readOrExplain(join(dir, name, key), `Secret ${name}`);
    },
  };
}
