import type { z } from 'zod';

// A rule the API server checks at admission (CEL, `x-kubernetes-validations`) and zod checks
// offline, written once side by side so the two cannot drift apart unnoticed.
export interface CelRule<T> {
  /** CEL expression over `self`, evaluated by the API server. */
  rule: string;
  /** What the user reads when the rule fails; says what to change. */
  message: string;
  /** The same rule in TypeScript, for zod. */
  holds(value: T): boolean;
}

export function withRules<S extends z.ZodType>(schema: S, rules: CelRule<z.output<S>>[]): S {
  let checked = schema;
  for (const r of rules) checked = checked.refine((value) => r.holds(value), { message: r.message, params: { reason: 'Invalid' } });
  return checked.meta({ 'x-kubernetes-validations': rules.map(({ rule, message }) => ({ rule, message })) });
}

/**
 * A rule only the API server checks. Used where the offline check lives on the model with
 * located messages (src/manifest/rules.ts), so zod does not report the same problem twice.
 */
export function serverRules<S extends z.ZodType>(schema: S, rules: { rule: string; message: string }[]): S {
  return schema.meta({ 'x-kubernetes-validations': rules });
}
