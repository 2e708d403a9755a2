// A PromotionManifest's spec as the controller accepts it: the checks the CRD cannot make
// (the same rules `hoist validate` applies, and the --allowed-registries allowlist), turned into
// the neutral model the pipeline's edges are built from.
import { maxTimerMs, parseDuration } from '../api/duration.ts';
import { promotionManifestSpecSchema, type PromotionManifestSpec } from '../api/promotion-manifest.ts';
import { formatPath, ManifestError } from '../manifest/errors.ts';
import type { PromotionSpec } from '../manifest/model.ts';
import { specModel } from '../manifest/resource.ts';
import { checkSpec } from '../manifest/rules.ts';
import { ReconcileError } from './errors.ts';

export interface AcceptedSpec {
  spec: PromotionManifestSpec;
  model: PromotionSpec;
  intervalMs: number;
  timeoutMs: number;
  /** spec.verifyInterval: how long what an earlier run read is believed (0: not at all). */
  verifyIntervalMs: number;
}

const defaultTimeoutMs = 60 * 60_000;
const maxDurationText = '576h (24 days)';

export const registryHost = (name: string): string => (name.split('/')[0] ?? name).toLowerCase();

/** A duration field within 1s and what timers can hold (longer ones would fire at once). */
function duration(field: string, text: string, example: string): number {
  const ms = parseDuration(text);
  if (ms === undefined || ms < 1000 || ms > maxTimerMs) {
    throw new ReconcileError('InvalidSpec', `spec.${field} "${text}" must be a duration between 1s and ${maxDurationText}, e.g. ${example}`);
  }
  return ms;
}

function checkAllowed(spec: PromotionManifestSpec, allowedRegistries: string[] | undefined): void {
  if (!allowedRegistries || allowedRegistries.length === 0) return;
  const allowed = new Set(allowedRegistries.map((h) => h.toLowerCase()));
  const refused = spec.registries.filter((r) => !r.src && !allowed.has(registryHost(r.name)));
  if (refused.length === 0) return;
  throw new ReconcileError('RegistryNotAllowed', `destination registr${refused.length === 1 ? 'y' : 'ies'} ${refused.map((r) => `"${r.name}"`).join(', ')} not in the controller's --allowed-registries (${[...allowed].join(', ')}); use an allowed registry or ask the platform team to allow it`);
}

/** Throws a ReconcileError naming the first problems, or returns the spec ready to run. */
export function acceptSpec(raw: unknown, allowedRegistries: string[] | undefined): AcceptedSpec {
  const parsed = promotionManifestSpecSchema.safeParse(raw);
  if (!parsed.success) {
    const issues = parsed.error.issues.slice(0, 3).map((i) => `spec.${i.path.join('.')}: ${i.message}`).join('; ');
    throw new ReconcileError('InvalidSpec', `${issues}; fix the manifest`);
  }
  const spec = parsed.data;
  const model = specModel(spec);
  const problems = checkSpec(model, (reason, path, message) => new ManifestError(reason, 'spec', 0, 0, `spec.${formatPath(path)}: ${message}`), () => 0);
  if (problems.length > 0) throw new ReconcileError(problems[0]!.reason, problems.slice(0, 3).map((p) => p.detail).join('; '));
  checkAllowed(spec, allowedRegistries);
  const intervalMs = duration('interval', spec.interval, '10m or 24h');
  const timeoutMs = spec.timeout === undefined ? defaultTimeoutMs : duration('timeout', spec.timeout, '30m or 2h');
  const verifyIntervalMs = parseDuration(spec.verifyInterval) ?? 24 * 3_600_000;
  return { spec, model, intervalMs, timeoutMs, verifyIntervalMs };
}
