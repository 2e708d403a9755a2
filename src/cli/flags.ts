// Flag parsing for every command: node:util's parseArgs, with the messages a person expects
// from kubectl or flux ("unknown flag: --bogus", "did you mean --output?", "flag needs an
// argument") instead of Node's own text, and a pointer to the command that has a flag this one
// lacks (`hoist plan --confirm`: plan never writes).
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { UsageError } from './command.ts';

export type FlagSpecs = NonNullable<ParseArgsConfig['options']>;

export interface FlagRules {
  /** Positional arguments accepted (default: none). */
  positionals?: boolean;
  /** Flags of other commands, each with what to say when given here. */
  elsewhere?: Record<string, string>;
}

type Parsed<O extends FlagSpecs> = ReturnType<typeof parseArgs<{ options: O; allowPositionals: true; strict: true }>>;

/** Edit distance, for "did you mean"; flag names are short, so the quadratic table is fine. */
function distance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(previous[j]! + 1, row[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = row;
  }
  return previous[b.length]!;
}

export function closestFlag(name: string, specs: FlagSpecs): string | undefined {
  let best: { name: string; d: number } | undefined;
  for (const candidate of Object.keys(specs)) {
    const d = candidate.startsWith(name) && name.length >= 3 ? 0 : distance(name, candidate);
    if (d <= Math.max(1, Math.floor(candidate.length / 3)) && (!best || d < best.d)) best = { name: candidate, d };
  }
  return best?.name;
}

const dashed = (name: string) => (name.length === 1 ? `-${name}` : `--${name}`);

/** Parses `args` for `hoist <command>`; every mistake is a UsageError that says what to type instead. */
export function parseFlags<const O extends FlagSpecs>(command: string, args: string[], specs: O, rules: FlagRules = {}): Parsed<O> {
  // Non-strict parsing hands back every token, so each mistake is explained here in our words.
  const { values, positionals, tokens } = parseArgs({ args, options: specs, allowPositionals: true, strict: false, tokens: true });
  for (const token of tokens) {
    if (token.kind !== 'option') continue;
    const spec = specs[token.name];
    if (spec === undefined) {
      const elsewhere = rules.elsewhere?.[token.name];
      if (elsewhere) throw new UsageError(`${token.rawName} is not a flag of "hoist ${command}": ${elsewhere}`);
      const close = token.rawName.startsWith('--') ? closestFlag(token.name, specs) : undefined;
      throw new UsageError(`unknown flag ${token.rawName} for "hoist ${command}"${close ? `; did you mean --${close}?` : ''}`);
    }
    if (spec.type === 'string' && token.value === undefined) throw new UsageError(`flag ${token.rawName} needs a value`);
    if (spec.type === 'boolean' && token.inlineValue) {
      throw new UsageError(`flag ${token.rawName} takes no value (write ${dashed(token.name)} alone)`);
    }
  }
  if (!rules.positionals && positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`);
  return { values, positionals } as unknown as Parsed<O>;
}

/** Node's own parseArgs messages (a command that calls parseArgs directly), in the same words. */
export function explainParseArgsError(error: Error & { code?: string }): string {
  const option = /'(-{1,2}[^' ]+)/.exec(error.message)?.[1];
  switch (error.code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
      return option ? `unknown flag ${option}` : error.message;
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE':
      if (/argument missing/.test(error.message)) return `flag ${/--[\w-]+/.exec(error.message)?.[0] ?? option} needs a value`;
      if (/does not take an argument/.test(error.message)) return `flag ${option} takes no value`;
      return error.message;
    case 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL':
      return `unexpected argument ${/'([^']*)'/.exec(error.message)?.[0] ?? ''}`.trim();
    default:
      return error.message;
  }
}

/**
 * --trusted-realm REGISTRY=HOST, repeatable (promote, plan, replicate, controller): the hosts
 * each registry's token server may be on, outside the registry's own domain.
 */
export function trustedRealms(pairs: readonly string[] | undefined): Record<string, string[]> {
  const realms: Record<string, string[]> = {};
  for (const pair of pairs ?? []) {
    const [registry, host, ...rest] = pair.split('=');
    if (!registry || !host || rest.length > 0) throw new UsageError(`--trusted-realm must be REGISTRY=HOST, got "${pair}"`);
    (realms[registry] ??= []).push(host);
  }
  return realms;
}
