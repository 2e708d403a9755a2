// A PromotionManifest's spec as the controller accepts it: the checks the CRD cannot make
// (the same rules `hoist validate` applies, and the --allowed-registries allowlist), turned into
// the neutral model the pipeline's edges are built from.
import { parseDuration } from '../api/duration.ts';
import { promotionManifestSpecSchema, type PromotionManifestSpec } from '../api/promotion-manifest.ts';
import { ManifestError, type ValuePath } from '../manifest/errors.ts';
import type { PromotionSpec } from '../manifest/model.ts';
import { checkSpec } from '../manifest/rules.ts';
import { stalled } from './errors.ts';

export interface AcceptedSpec {
  spec: PromotionManifestSpec;
  model: PromotionSpec;
  intervalMs: number;
  timeoutMs: number;
}

export const defaultTimeoutMs = 60 * 60_000;
/**
 * Longest spec.interval / spec.timeout: timers cannot wait more than 2^31-1 ms (~24.8 days);
 * beyond that they fire after 1 ms, which would run the manifest in a tight loop.
 */
export const maxDurationMs = 24 * 24 * 60 * 60_000;
const maxDurationText = '576h (24 days)';

const pathText = (path: ValuePath) => path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${p}`)).join('').replace(/^\./, '');

export function toModel(spec: PromotionManifestSpec): PromotionSpec {
  return {
    registries: spec.registries.map((r) => ({ name: r.name, src: r.src, ...(r.credentials ? { secretName: r.credentials.secretRef.name } : {}) })),
    images: spec.images.map((i) => ({ name: i.name, dmap: i.dmap })),
  };
}

export const registryHost = (name: string): string => (name.split('/')[0] ?? name).toLowerCase();

/** Throws a stalled ReconcileError naming the first problems, or returns the spec ready to run. */
export function acceptSpec(raw: unknown, allowedRegistries: string[] | undefined): AcceptedSpec {
  const parsed = promotionManifestSpecSchema.safeParse(raw);
  if (!parsed.success) {
    const issues = parsed.error.issues.slice(0, 3).map((i) => `spec.${i.path.join('.')}: ${i.message}`).join('; ');
    throw stalled('InvalidSpec', `${issues}; fix the manifest`);
  }
  const spec = parsed.data;
  const model = toModel(spec);
  const problems = checkSpec(model, (reason, path, message) => new ManifestError(reason, 'spec', 0, 0, `spec.${pathText(path)}: ${message}`), () => 0);
  if (problems.length > 0) {
    throw stalled(problems[0]!.reason, problems.slice(0, 3).map((p) => p.detail).join('; '));
  }
  if (allowedRegistries && allowedRegistries.length > 0) {
    const allowed = new Set(allowedRegistries.map((h) => h.toLowerCase()));
    const refused = spec.registries.filter((r) => !r.src && !allowed.has(registryHost(r.name)));
    if (refused.length > 0) {
      throw stalled('RegistryNotAllowed', `destination registr${refused.length === 1 ? 'y' : 'ies'} ${refused.map((r) => `"${r.name}"`).join(', ')} not in the controller's --allowed-registries (${[...allowed].join(', ')}); use an allowed registry or ask the platform team to allow it`);
    }
  }
  const intervalMs = parseDuration(spec.interval);
  if (intervalMs === undefined || intervalMs < 1000 || intervalMs > maxDurationMs) {
    throw stalled('InvalidSpec', `spec.interval "${spec.interval}" must be a duration between 1s and ${maxDurationText}, e.g. 10m or 24h`);
  }
  const timeoutMs = spec.timeout === undefined ? defaultTimeoutMs : parseDuration(spec.timeout);
  if (timeoutMs === undefined || timeoutMs < 1000 || timeoutMs > maxDurationMs) {
    throw stalled('InvalidSpec', `spec.timeout "${spec.timeout}" must be a duration between 1s and ${maxDurationText}, e.g. 30m or 2h`);
  }
  return { spec, model, intervalMs, timeoutMs };
}
