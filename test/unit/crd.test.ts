// The committed CRD is what the zod schemas generate, and the schema conversion refuses what a
// structural CRD cannot say instead of dropping it.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { parse } from 'yaml';
import { buildCrd, crdFile, renderCrd, toStructural } from '../../src/api/crd.ts';
import { promotionManifestSpecSchema } from '../../src/api/promotion-manifest.ts';

test('the committed CRD is current', () => {
  assert.ok(readFileSync(crdFile, 'utf8') === renderCrd(), `${crdFile} is out of date with src/api; run npm run generate:crd`);
});

test('the CRD carries the name, printer columns, status subresource and rules', () => {
  const crd = buildCrd() as any;
  assert.equal(crd.metadata.name, 'promotionmanifests.hoist.dev');
  assert.deepEqual(crd.spec.names.shortNames, ['pm']);
  const v = crd.spec.versions[0];
  assert.deepEqual(v.subresources, { status: {} });
  assert.deepEqual(v.additionalPrinterColumns.filter((c: any) => !c.priority).map((c: any) => c.name), ['Ready', 'Present', 'Refused', 'Failed', 'Last Promoted', 'Suspended', 'Age']);
  assert.deepEqual(v.additionalPrinterColumns.filter((c: any) => !c.priority).map((c: any) => c.jsonPath).slice(1, 5), ['.status.inventory.presentOfDesired', '.status.inventory.refused', '.status.inventory.failed', '.status.lastPromoted.at'], 'the state of the world, not the last run\'s counts');
  const spec = v.schema.openAPIV3Schema.properties.spec;
  assert.deepEqual(spec.required, ['registries', 'images']);
  assert.match(spec.properties.registries.items.properties.name.description, /host and optional path prefix/);
  assert.deepEqual(spec.properties.registries['x-kubernetes-validations'].map((r: any) => r.rule), ['self.exists_one(r, r.src)']);
  // Unique names through list-map keys: checked by the API server itself, no quadratic CEL rule.
  for (const list of [spec.properties.registries, spec.properties.images]) {
    assert.equal(list['x-kubernetes-list-type'], 'map');
    assert.deepEqual(list['x-kubernetes-list-map-keys'], ['name']);
  }
  assert.equal(spec.properties.images.minItems, undefined, 'a project with no images yet converts too');
  assert.equal(spec.properties.registries.maxItems, 128, 'registry.k8s.io has projects with 70 destinations');
  const registryName = new RegExp(spec.properties.registries.items.properties.name.pattern);
  assert.ok(registryName.test('localhost:65535/prod') && !registryName.test('localhost:65536/prod') && !registryName.test('localhost:0/prod'));
  assert.equal(spec.properties.images.items.properties.dmap.additionalProperties.items.pattern, '^\\w[\\w.-]{0,127}$');
  assert.equal(JSON.stringify(crd).includes('additionalProperties":false'), false);
  assert.deepEqual(parse(renderCrd()), crd);
});

test('the zod spec schema and the CRD agree on what a minimal spec is', () => {
  const minimal = {
    registries: [{ name: 'gcr.io/staging', src: true }, { name: 'gcr.io/prod' }],
    images: [{ name: 'app', dmap: { [`sha256:${'a'.repeat(64)}`]: ['v1'] } }],
  };
  const parsed = promotionManifestSpecSchema.parse(minimal);
  assert.equal(parsed.mode, 'Promote');
  assert.equal(parsed.registries[1]!.src, false);
  assert.equal(promotionManifestSpecSchema.safeParse({ ...minimal, signing: {} }).success, false, 'signing needs keyless or key');
});

test('what a structural schema cannot express fails generation', () => {
  assert.throws(() => toStructural({ type: 'object', properties: { x: { anyOf: [{ type: 'string' }, { type: 'number' }] } } }), /\$\.x: "anyOf" cannot be expressed/);
  assert.throws(() => toStructural({ properties: {} }), /needs a type/);
  assert.deepEqual(toStructural({ type: 'string', const: 'a', pattern: '^a\\/b$' }), { type: 'string', enum: ['a'], pattern: '^a/b$' });
});
