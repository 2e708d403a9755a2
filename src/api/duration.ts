// Go-style durations (`90s`, `10m`, `1h30m`), the form Flux, Helm and controller-runtime use
// for intervals and timeouts, so spec fields and CLI flags read the same.
import { DURATION_PATTERN } from './patterns.ts';

const unitMs: Record<string, number> = { ns: 1e-6, us: 1e-3, 'µs': 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const durationRegExp = new RegExp(DURATION_PATTERN);

/** 24 days: Node's timers hold at most 2^31-1 ms, so no interval or timeout may be longer. */
export const maxTimerMs = 24 * 24 * 3_600_000;

/** Milliseconds in a Go duration, or undefined when the text is not one. */
export function parseDuration(text: string): number | undefined {
  if (!durationRegExp.test(text)) return undefined;
  let total = 0;
  for (const [, value, , unit] of text.matchAll(/([0-9]+(\.[0-9]+)?)(ns|us|µs|ms|s|m|h)/g)) total += Number(value) * unitMs[unit!]!;
  return total;
}
