// Phases whose trust work (signatures, provenance, the promotion record) arrives with the
// signing work; until then they succeed without doing anything and say so.
import type { Phase, PhaseName } from '../types.ts';

export function notYetImplemented(name: PhaseName, what: string): Phase {
  return { name, run: async () => ({ message: `${what}: not configured` }) };
}
