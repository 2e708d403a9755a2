// A PromotionManifest's spec as the controller accepts it: the checks the CRD cannot make
// (the same rules `hoist validate` applies, and the --allowed-registries allowlist), turned into
// the neutral model the pipeline's edges are built from.
import { maxTimerMs, parseDuration } from '../api/duration.ts';
import { promotionManifestSpecSchema, type PromotionManifestSpec } from '../api/promotion-manifest.ts';
import { formatPath, ManifestError } from '../manifest/errors.ts';
import type { PromotionSpec } from '../manifest/model.ts';
import { specModel } from '../manifest/resource.ts';
import { reviewSpec } from '../manifest/rules.ts';
import type { Reason } from '../api/reasons.ts';
import { ReconcileError } from './errors.ts';

export interface AcceptedSpec {
  spec: PromotionManifestSpec;
  /** What runs: the spec's registries and images with refused dmap entries taken out. */
  model: PromotionSpec;
  /** dmap entries refused on their own (one tag given to two digests); the rest runs. */
  refused: RefusedEntries | undefined;
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

/** dmap entries refused when the spec was accepted: one condition and one Event name them. */
export interface RefusedEntries {
  reason: Reason;
  /** Edges they would have made: refused edges in the inventory. */
  edges: number;
  message: string;
}

function refusedEntries(problems: ManifestError[], spec: PromotionSpec): RefusedEntries | undefined {
  if (problems.length === 0) return undefined;
  const destinations = spec.registries.filter((r) => !r.src).length;
  const entries = new Set(problems.map((p) => JSON.stringify([p.entry?.image, p.entry?.digest])));
  const details = problems.slice(0, 3).map((p) => p.detail).join('; ');
  return {
    reason: problems[0]!.reason,
    edges: entries.size * destinations,
    message: `${entries.size} dmap entr${entries.size === 1 ? 'y' : 'ies'} refused, the others run: ${details}${problems.length > 3 ? `; and ${problems.length - 3} more` : ''}`,
  };
}

/** Throws a ReconcileError naming the first problems, or returns the spec ready to run. */
export function acceptSpec(raw: unknown, allowedRegistries: string[] | undefined): AcceptedSpec {
  const parsed = promotionManifestSpecSchema.safeParse(raw);
  if (!parsed.success) {
    const issues = parsed.error.issues.slice(0, 3).map((i) => `spec.${i.path.join('.')}: ${i.message}`).join('; ');
    throw new ReconcileError('InvalidSpec', `${issues}; fix the manifest`);
  }
  const spec = parsed.data;
  const full = specModel(spec);
  // The API server has no file positions: line 0, and messages leave the line out.
  const review = reviewSpec(full, { report: (reason, path, message) => new ManifestError(reason, 'spec', 0, 0, `spec.${formatPath(path)}: ${message}`), line: () => 0 });
  if (!review.spec) throw new ReconcileError(review.errors[0]!.reason, review.errors.slice(0, 3).map((p) => p.detail).join('; '));
  checkAllowed(spec, allowedRegistries);
  const intervalMs = duration('interval', spec.interval, '10m or 24h');
  const timeoutMs = spec.timeout === undefined ? defaultTimeoutMs : duration('timeout', spec.timeout, '30m or 2h');
  const verifyIntervalMs = parseDuration(spec.verifyInterval) ?? 24 * 3_600_000;
  return { spec, model: review.spec, refused: refusedEntries(review.refusedEntries, full), intervalMs, timeoutMs, verifyIntervalMs };
}
