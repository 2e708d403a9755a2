// Turns zod issues into located ManifestErrors with messages that say what to change.
import type { z } from 'zod';
import { DIGEST_PATTERN, IMAGE_NAME_PATTERN, REGISTRY_NAME_PATTERN, TAG_PATTERN } from '../api/patterns.ts';
import type { ManifestError, ManifestErrorReason, ValuePath } from './errors.ts';
import { plainValue, type YamlSource } from './source.ts';
import type { YNode } from './yaml.ts';

interface PatternHelp { reason: ManifestErrorReason; expected: string }

const patterns: Record<string, PatternHelp> = {
  [DIGEST_PATTERN]: { reason: 'InvalidDigest', expected: 'a digest: sha256: followed by 64 lowercase hex digits' },
  [TAG_PATTERN]: { reason: 'InvalidTag', expected: 'a tag: a letter, digit or _ then up to 127 letters, digits, _, . or -' },
  [REGISTRY_NAME_PATTERN]: { reason: 'InvalidName', expected: 'a registry: lowercase host[:port] (port 1-65535) and optional /path prefix, e.g. gcr.io/k8s-staging-bom' },
  [IMAGE_NAME_PATTERN]: { reason: 'InvalidName', expected: 'an image name: lowercase path components separated by /, e.g. bom or sig-storage/csi-attacher' },
};

function patternHelp(pattern: string | undefined): PatternHelp | undefined {
  // zod reports RegExp.source, which escapes slashes.
  return pattern === undefined ? undefined : patterns[pattern.replace(/^\/|\/$/g, '').replaceAll('\\/', '/')];
}

export function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  if (typeof value === 'string') return `"${value.length > 80 ? `${value.slice(0, 77)}...` : value}"`;
  return `${typeof value === 'number' ? 'the number' : typeof value} ${String(value)}`;
}

/** A YAML node for a type error: `a list`, `a mapping`, or its value as describeValue does. */
export function describeNode(node: YNode): string {
  if (node.kind === 'seq') return 'a list';
  if (node.kind === 'map') return 'a mapping';
  return node.quoted ? describeValue(node.text) : describeValue(plainValue(node.text));
}

const typeNames: Record<string, string> = {
  string: 'a string', boolean: 'true or false', array: 'a list', object: 'a mapping', record: 'a mapping',
  number: 'a number', int: 'an integer',
};

/** `knownFields(path)` names the fields allowed at `path`, for "did you mean" help on unknown ones. */
export function issuesToErrors(
  issues: readonly z.core.$ZodIssue[],
  source: YamlSource,
  knownFields: (path: ValuePath) => readonly string[],
  base: ValuePath = [],
): ManifestError[] {
  const errors: ManifestError[] = [];
  for (const issue of issues) {
    const path = [...base, ...issue.path.map((p) => (typeof p === 'symbol' ? String(p) : p))];
    const input = (issue as { input?: unknown }).input;
    switch (issue.code) {
      case 'unrecognized_keys': {
        const known = knownFields(path.slice(base.length));
        for (const key of issue.keys) {
          errors.push(source.error('UnknownField', [...path, key],
            `unknown field "${key}"; allowed here: ${known.join(', ')} — check the spelling or remove it`, 'key'));
        }
        break;
      }
      case 'invalid_type':
        if (input === undefined) {
          const field = path.at(-1);
          errors.push(source.error('MissingField', path, `required field "${String(field)}" is missing; add it`));
        } else {
          errors.push(source.error('WrongType', path, `expected ${typeNames[issue.expected] ?? issue.expected}, got ${describeValue(input)}`));
        }
        break;
      case 'invalid_key': {
        const inner = issue.issues[0];
        const help = patternHelp(inner && 'pattern' in inner ? String(inner.pattern) : undefined);
        errors.push(source.error(help?.reason ?? 'InvalidValue', path,
          `${describeValue(input)} is not ${help?.expected ?? 'a valid key'}; fix or remove this entry`, 'key'));
        break;
      }
      case 'invalid_format': {
        const help = patternHelp(issue.pattern);
        errors.push(source.error(help?.reason ?? 'InvalidValue', path, `${describeValue(input)} is not ${help?.expected ?? `valid (${issue.format})`}`));
        break;
      }
      case 'too_small':
        errors.push(source.error('EmptyValue', path, issue.origin === 'array'
          ? `needs at least ${issue.minimum} ${issue.minimum === 1 ? 'entry' : 'entries'}; add ${path.at(-1) === 'registries' ? 'the source and a destination registry' : 'one'}`
          : 'must not be empty; fill it in'));
        break;
      case 'too_big':
        errors.push(source.error('TooMany', path, `${issue.origin === 'array' ? 'has more than' : 'is longer than'} ${issue.maximum}${issue.origin === 'array' ? ' entries' : ' characters'}; split it`));
        break;
      case 'invalid_value':
        errors.push(source.error('InvalidValue', path, `${describeValue(input)} is not allowed; use one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`));
        break;
      default:
        errors.push(source.error('InvalidValue', path, issue.message));
    }
  }
  return errors;
}

/** The field names an object schema allows at `path`, found by walking the schema. */
export function fieldsAt(schema: z.ZodType, path: ValuePath): readonly string[] {
  let def = schema._zod.def as unknown as Record<string, unknown>;
  const unwrap = () => {
    while (['optional', 'default', 'nullable', 'prefault'].includes(def.type as string)) {
      def = (def.innerType as z.ZodType)._zod.def as unknown as Record<string, unknown>;
    }
  };
  for (const segment of path) {
    unwrap();
    const next = def.type === 'object' ? (def.shape as Record<string, z.ZodType>)[String(segment)]
      : def.type === 'array' ? def.element as z.ZodType
        : def.type === 'record' ? def.valueType as z.ZodType
          : undefined;
    if (!next) return [];
    def = next._zod.def as unknown as Record<string, unknown>;
  }
  unwrap();
  return def.type === 'object' ? Object.keys(def.shape as object) : [];
}
