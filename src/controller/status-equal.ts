// Whether a run's new status says anything the stored one does not: a run that found everything
// as it was writes nothing (issue 15: a restart with 1,000 resources in place cost 1,000 status
// writes), as controller-runtime's patch helpers send no empty patch. How long each phase took
// is the one thing every run changes and nobody acts on: alone, it is not worth a write (the
// durations shown are then those of the last run that changed something).
import type { Status } from './conditions.ts';

/** Deep equality of JSON values; an absent property and one set to undefined are the same. */
function equalJson(a: unknown, b: unknown, ignore?: (path: readonly string[]) => boolean, path: readonly string[] = []): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((v, i) => equalJson(v, b[i], ignore, [...path, '*']));
  const ra = a as Record<string, unknown>;
  const rb = b as Record<string, unknown>;
  const keys = new Set([...Object.keys(ra), ...Object.keys(rb)]);
  for (const key of keys) {
    if (ignore?.([...path, key])) continue;
    if (!equalJson(ra[key], rb[key], ignore, [...path, key])) return false;
  }
  return true;
}

const isPhaseDuration = (path: readonly string[]) => path.length === 3 && path[0] === 'phases' && path[2] === 'durationMs';

/** The same status but for the phases' durations. */
export function sameStatus(stored: Status | undefined, next: Status): boolean {
  return equalJson(stored ?? {}, next, isPhaseDuration);
}
