// Reading kpromo manifests: the real fixtures, and every rule with its message and location.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ManifestError } from '../../src/manifest/errors.ts';
import { parsePlainManifest } from '../../src/manifest/kpromo.ts';
import { expandEdges } from '../../src/manifest/model.ts';
import { loadThinManifestDirectory } from '../../src/manifest/thin.ts';

const A = `sha256:${'a'.repeat(64)}`;
const B = `sha256:${'b'.repeat(64)}`;
const C = `sha256:${'c'.repeat(64)}`;

/** A valid plain manifest, one line per entry so cases can edit lines by number (1-based). */
const base = [
  'registries:',
  '  - name: gcr.io/staging',
  '    src: true',
  '  - name: gcr.io/prod-a',
  '  - name: gcr.io/prod-b',
  'images:',
  '  - name: app',
  '    dmap:',
  `      "${A}": ["v1"]`,
  `      "${B}": ["v2", "latest"]`,
];

type Edit = (lines: string[]) => string[];
const replace = (line: number, text: string): Edit => (l) => l.map((x, i) => (i === line - 1 ? text : x));
const insert = (after: number, ...text: string[]): Edit => (l) => [...l.slice(0, after), ...text, ...l.slice(after)];
const remove = (from: number, to = from): Edit => (l) => l.filter((_, i) => i < from - 1 || i > to - 1);
const apply = (...edits: Edit[]) => edits.reduce((l, e) => e(l), base).join('\n') + '\n';

describe('kpromo fixtures', () => {
  test('the thin-manifest fixtures parse and expand into the documented edge counts', async () => {
    const { projects, errors } = await loadThinManifestDirectory('test/fixtures/kpromo/thin');
    assert.deepEqual(errors, []);
    const byProject = Object.fromEntries(projects.map((p) => [p.project, p.spec]));
    const bom = expandEdges(byProject['k8s-staging-bom']!);
    assert.equal(bom.length, 120);
    assert.ok(bom.every((e) => e.srcImage === 'gcr.io/k8s-staging-bom/bom' && e.tags.length === 1));
    assert.equal(new Set(bom.map((e) => e.dstImage)).size, 20);
    assert.equal(new Set(bom.map((e) => e.digest)).size, 6);
    assert.ok(bom.some((e) => e.dstImage === 'us-central1-docker.pkg.dev/k8s-artifacts-prod/images/bom/bom' && e.tags[0] === 'v0.5.1'));
    const sigstore = expandEdges(byProject.sigstore!);
    assert.deepEqual(sigstore.map((e) => e.dstImage), [
      'us.gcr.io/k8s-cip-test-prod/canary/sigstore/cosign', 'us.gcr.io/k8s-cip-test-prod/canary/sigstore-mirror/cosign',
    ]);
    assert.equal(byProject['k8s-staging-bom']!.registries[1]!.serviceAccount, 'k8s-infra-gcr-promoter@k8s-artifacts-prod.iam.gserviceaccount.com');
  });

  test('a digest without tags becomes tagless edges', () => {
    const parsed = parsePlainManifest('m.yaml', apply(replace(10, `      "${B}": []`)));
    assert.ok(parsed.ok);
    const tagless = expandEdges(parsed.value).filter((e) => e.digest === B);
    assert.deepEqual(tagless, [
      { srcImage: 'gcr.io/staging/app', digest: B, dstImage: 'gcr.io/prod-a/app', tags: [] },
      { srcImage: 'gcr.io/staging/app', digest: B, dstImage: 'gcr.io/prod-b/app', tags: [] },
    ]);
  });
});

// [title, manifest text, reason, "line:col", message after the location]
const cases: [string, string, string, string, string | RegExp][] = [
  ['unknown top-level field', apply(insert(10, 'imagez: []')), 'UnknownField', '11:1',
    'imagez: unknown field "imagez"; allowed here: registries, images — check the spelling or remove it'],
  ['unknown registry field', apply(insert(4, '    region: us')), 'UnknownField', '5:5',
    'registries[1].region: unknown field "region"; allowed here: name, src, service-account — check the spelling or remove it'],
  ['duplicate key', apply(insert(3, '    src: true')), 'DuplicateKey', '4:5',
    'registries[0].src: duplicate key "src" (first at line 3); a key may appear once in a mapping — remove or merge one of them'],
  ['invalid digest', apply(replace(9, '      "sha256:ABC": ["v1"]')), 'InvalidDigest', '9:7',
    'images[0].dmap["sha256:ABC"]: "sha256:ABC" is not a digest: sha256: followed by 64 lowercase hex digits; fix or remove this entry'],
  ['invalid tag', apply(replace(10, `      "${B}": ["v2", "-latest"]`)), 'InvalidTag', '10:89',
    `images[0].dmap["${B}"][1]: "-latest" is not a tag: a letter, digit or _ then up to 127 letters, digits, _, . or -`],
  ['tag too long', apply(replace(9, `      "${A}": ["${'v'.repeat(129)}"]`)), 'InvalidTag', '9:83', /\[0\]: "v{77}\.\.\." is not a tag/],
  ['no src registry', apply(remove(3)), 'NoSourceRegistry', '2:3',
    'registries: no source registry; mark the staging registry with src: true'],
  ['two src registries', apply(insert(4, '    src: true')), 'MultipleSourceRegistries', '5:10',
    'registries[1].src: a second source registry "gcr.io/prod-a" (the first is "gcr.io/staging" at line 3); a manifest has exactly one src registry — set src: false on all but one'],
  ['only a src registry', apply(remove(4, 5)), 'NoDestinationRegistry', '2:3',
    'registries: no destination registry, so nothing would be promoted; add a registry without src: true'],
  ['duplicate registry', apply(replace(5, '  - name: gcr.io/prod-a')), 'DuplicateRegistry', '5:11',
    'registries[2].name: registry "gcr.io/prod-a" is listed twice (first at line 4); remove this entry'],
  ['duplicate image', apply(insert(10, '  - name: app', '    dmap:', `      "${C}": ["v3"]`)), 'DuplicateImage', '11:11',
    'images[1].name: image "app" is listed twice (first at line 7); merge the two dmaps into one entry'],
  ['tag on two digests', apply(replace(10, `      "${B}": ["v2", "v1"]`)), 'TagConflict', '10:89',
    `images[0].dmap["${B}"][1]: tag "v1" of image "app" is also given to ${A} (line 9); a tag names one digest — remove it from one of them`],
  ['empty dmap', apply(remove(9, 10), replace(8, '    dmap: {}')), 'EmptyDmap', '8:11',
    'images[0].dmap: dmap is empty; list at least one digest to promote, or remove the image'],
  ['empty image name', apply(replace(7, '  - name: ""')), 'EmptyValue', '7:11', 'images[0].name: must not be empty; fill it in'],
  ['empty images list', apply(remove(7, 10), replace(6, 'images: []')), 'EmptyValue', '6:9',
    'images: needs at least 1 entry; add one'],
  ['missing images', apply(remove(6, 10)), 'MissingField', '1:1', 'images: required field "images" is missing; add it'],
  ['missing dmap', apply(remove(8, 10)), 'MissingField', '7:5', 'images[0].dmap: required field "dmap" is missing; add it'],
  ['wrong type', apply(replace(3, '    src: "yes"')), 'WrongType', '3:10', 'registries[0].src: expected true or false, got "yes"'],
  ['tags not a list', apply(replace(9, `      "${A}": v1`)), 'WrongType', '9:82', `images[0].dmap["${A}"]: expected a list, got "v1"`],
  ['invalid registry name', apply(replace(4, '  - name: GCR.io/Prod')), 'InvalidName', '4:11',
    'registries[1].name: "GCR.io/Prod" is not a registry: lowercase host[:port] and optional /path prefix, e.g. gcr.io/k8s-staging-bom'],
  ['YAML syntax', apply(replace(9, `      "${A}": ["v1"`)), 'YamlSyntax', /^\d+:\d+$/ as unknown as string, /fix the YAML syntax$/],
  ['two documents', `${apply()}---\nregistries: []\n`, 'YamlSyntax', '11:1',
    'a second YAML document; a manifest file holds one document — remove the ---'],
  ['empty file', '', 'NotAManifest', '1:1', 'the file is empty; a manifest needs registries and images'],
];

describe('manifest rules', () => {
  for (const [title, text, reason, position, message] of cases) {
    test(`${title}: ${reason}`, () => {
      const parsed = parsePlainManifest('dir/m.yaml', text);
      assert.equal(parsed.ok, false, 'the manifest should be refused');
      if (parsed.ok) return;
      const [error, ...rest] = parsed.errors;
      assert.deepEqual(rest.map((e) => e.message), [], 'exactly one error');
      assert.ok(error instanceof ManifestError);
      assert.equal(error.reason, reason);
      assert.equal(error.file, 'dir/m.yaml');
      if (typeof position === 'string') assert.equal(`${error.line}:${error.column}`, position);
      else assert.match(`${error.line}:${error.column}`, position);
      if (typeof message === 'string') assert.equal(error.detail, message);
      else assert.match(error.detail, message);
      assert.equal(error.message, `dir/m.yaml:${error.line}:${error.column}: ${error.detail}`);
    });
  }

  test('every problem in a file is reported, not just the first', () => {
    const parsed = parsePlainManifest('m.yaml', apply(replace(9, '      "sha256:0": []'), insert(4, '    srcc: true'), insert(3, '    src: true')));
    assert.equal(parsed.ok, false);
    if (parsed.ok) return;
    assert.deepEqual(parsed.errors.map((e) => `${e.line}:${e.column} ${e.reason}`), ['4:5 DuplicateKey', '6:5 UnknownField', '11:7 InvalidDigest']);
  });
});

describe('thin manifests', () => {
  test('the same rules apply, located in the file they concern; a missing images file is an error', async () => {
    const { projects, errors } = await loadThinManifestDirectory('test/fixtures/manifests/thin-broken');
    assert.deepEqual(projects.map((p) => p.project), ['good']);
    assert.deepEqual(errors.map((e) => `${e.message}`), [
      'test/fixtures/manifests/thin-broken/manifests/no-images/promoter-manifest.yaml:1:1: this thin manifest has no images file test/fixtures/manifests/thin-broken/images/no-images/images.yaml; create it with the images to promote (a list of name and dmap)',
      'test/fixtures/manifests/thin-broken/manifests/two-src/promoter-manifest.yaml:6:10: registries[2].src: a second source registry "gcr.io/b" (the first is "gcr.io/staging" at line 3); a manifest has exactly one src registry — set src: false on all but one',
      `test/fixtures/manifests/thin-broken/images/two-src/images.yaml:4:${`    "${B}": [`.length + 1}: [0].dmap["${B}"][0]: tag "v1" of image "app" is also given to ${A} (line 3); a tag names one digest — remove it from one of them`,
      'test/fixtures/manifests/thin-broken/images/unknown/images.yaml:1:3: [0].dmap: required field "dmap" is missing; add it',
      'test/fixtures/manifests/thin-broken/images/unknown/images.yaml:2:3: [0].dmapp: unknown field "dmapp"; allowed here: name, dmap — check the spelling or remove it',
    ]);
    assert.ok(errors.every((e) => e instanceof ManifestError));
  });
});
