// Builds the PromotionManifest CustomResourceDefinition from the zod schemas. zod emits JSON
// Schema; the API server wants a structural OpenAPI v3 subset, so the output is narrowed here
// and anything that cannot be expressed fails generation instead of producing a lax CRD.
import { stringify } from 'yaml';
import { z } from 'zod';
import {
  group, kind, names, promotionManifestSpecSchema, promotionManifestStatusSchema, version,
} from './promotion-manifest.ts';

type JsonSchema = { [key: string]: unknown };

const unsupported = ['anyOf', 'oneOf', 'allOf', 'not', '$ref', '$defs', 'definitions', 'patternProperties'];

/** Narrows zod's JSON Schema output into a structural schema the API server accepts. */
export function toStructural(schema: JsonSchema, path = '$'): JsonSchema {
  const out: JsonSchema = {};
  for (const [key, value] of Object.entries(schema)) {
    if (unsupported.includes(key)) throw new Error(`${path}: "${key}" cannot be expressed in a structural CRD schema`);
    if (key === '$schema') continue;
    // Unknown fields are pruned by the API server; `false` is not allowed next to `properties`.
    if (key === 'additionalProperties' && value === false) continue;
    // Map keys are checked by CEL rules instead (Kubernetes has no propertyNames).
    if (key === 'propertyNames') continue;
    // zod bounds integers to the safe range; that is noise in `kubectl explain`.
    if ((key === 'maximum' && value === Number.MAX_SAFE_INTEGER) || (key === 'minimum' && value === Number.MIN_SAFE_INTEGER)) continue;
    // The API server validates date-time itself; zod's pattern for it is not RE2.
    if (key === 'pattern' && schema.format === 'date-time') continue;
    if (key === 'const') { out.enum = [value]; continue; }
    // RegExp.source escapes slashes; the API server reads patterns as plain RE2 strings.
    if (key === 'pattern' && typeof value === 'string') { out.pattern = value.replaceAll('\\/', '/'); continue; }
    if (key === 'properties') {
      out.properties = Object.fromEntries(Object.entries(value as Record<string, JsonSchema>)
        .map(([name, child]) => [name, toStructural(child, `${path}.${name}`)]));
    } else if ((key === 'items' || key === 'additionalProperties') && typeof value === 'object' && value !== null) {
      out[key] = toStructural(value as JsonSchema, `${path}.${key}`);
    } else {
      out[key] = value;
    }
  }
  if (out.type === undefined) throw new Error(`${path}: a structural schema needs a type`);
  return out;
}

export function openApi(schema: z.ZodType): JsonSchema {
  // io: 'input' so fields with defaults are optional, as they are for the person writing YAML.
  return toStructural(z.toJSONSchema(schema, { target: 'openapi-3.0', io: 'input' }) as JsonSchema);
}

export function buildCrd(): JsonSchema {
  const readyCondition = '.status.conditions[?(@.type=="Ready")]';
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${names.plural}.${group}` },
    spec: {
      group,
      names: { ...names, shortNames: [...names.shortNames], categories: [...names.categories] },
      scope: 'Namespaced',
      versions: [{
        name: version,
        served: true,
        storage: true,
        subresources: { status: {} },
        // The state of the world, as Flux's columns: present/desired, refused and failed edges
        // after the last run that read the registries, when something was last promoted, and
        // whether reconciling is suspended. The last run's own counts are in -o wide.
        additionalPrinterColumns: [
          { name: 'Ready', type: 'string', jsonPath: `${readyCondition}.status` },
          { name: 'Present', type: 'string', jsonPath: '.status.inventory.presentOfDesired', description: 'Edges in production / edges the spec names' },
          { name: 'Refused', type: 'integer', jsonPath: '.status.inventory.refused', description: 'Tag moves, lost digests, failed verification, refused dmap entries' },
          { name: 'Failed', type: 'integer', jsonPath: '.status.inventory.failed', description: 'Edges whose read or copy failed in the last run' },
          { name: 'Last Promoted', type: 'date', jsonPath: '.status.lastPromoted.at' },
          { name: 'Suspended', type: 'boolean', jsonPath: '.spec.suspend' },
          { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
          { name: 'Mode', type: 'string', jsonPath: '.spec.mode', priority: 1 },
          { name: 'Promoted', type: 'integer', jsonPath: '.status.counts.promoted', priority: 1, description: 'Edges the last run promoted' },
          { name: 'Status', type: 'string', jsonPath: `${readyCondition}.message`, priority: 1 },
        ],
        schema: {
          openAPIV3Schema: {
            type: 'object',
            description: `${kind} declares which image digests from a staging registry must appear, under which tags, in which production registries.`,
            properties: {
              apiVersion: { type: 'string', description: 'APIVersion of this object: hoist.dev/v1alpha1.' },
              kind: { type: 'string', description: 'Kind of this object: PromotionManifest.' },
              metadata: { type: 'object' },
              spec: openApi(promotionManifestSpecSchema),
              status: openApi(promotionManifestStatusSchema),
            },
            required: ['spec'],
          },
        },
      }],
    },
  };
}

export const crdFile = 'crds/hoist.dev_promotionmanifests.yaml';

export function renderCrd(): string {
  const header = '# Generated by scripts/generate-crd.ts from src/api/promotion-manifest.ts; do not edit.\n# Run `npm run generate:crd` after changing the schema.\n';
  return header + stringify(buildCrd(), { lineWidth: 0 });
}
