// Reading kpromo manifests: the real fixtures, and every rule with its message and location.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ManifestError } from '../../src/manifest/errors.ts';
import { parsePlainManifest } from '../../src/manifest/kpromo.ts';
import { expandEdges, Repositories } from '../../src/manifest/model.ts';
import { loadThinManifestDirectory } from '../../src/manifest/thin.ts';
import { checkSpec, reviewSpec, type Locator } from '../../src/manifest/rules.ts';

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

const ref = (r: { host: string; name: string }) => `${r.host}/${r.name}`;

describe('kpromo fixtures', () => {
  test('the thin-manifest fixtures parse and expand into the documented edge counts', async () => {
    const { projects, errors } = await loadThinManifestDirectory('test/fixtures/kpromo/thin');
    assert.deepEqual(errors, []);
    assert.deepEqual(projects.flatMap((p) => p.parsed.errors), []);
    const byProject = Object.fromEntries(projects.map((p) => [p.project, p.parsed.spec!]));
    const repositories = new Repositories();
    const bom = expandEdges(byProject['k8s-staging-bom']!, repositories);
    assert.equal(bom.length, 120);
    assert.ok(bom.every((e) => ref(e.src) === 'gcr.io/k8s-staging-bom/bom' && e.tags.length === 1));
    assert.equal(new Set(bom.map((e) => ref(e.dst))).size, 20);
    assert.equal(new Set(bom.map((e) => e.digest)).size, 6);
    assert.ok(bom.some((e) => ref(e.dst) === 'us-central1-docker.pkg.dev/k8s-artifacts-prod/images/bom/bom' && e.tags[0] === 'v0.5.1'));
    const sigstore = expandEdges(byProject.sigstore!, repositories);
    assert.deepEqual(sigstore.map((e) => ref(e.dst)), [
      'us.gcr.io/k8s-cip-test-prod/canary/sigstore/cosign', 'us.gcr.io/k8s-cip-test-prod/canary/sigstore-mirror/cosign',
    ]);
    assert.equal(byProject['k8s-staging-bom']!.registries[1]!.serviceAccount, 'k8s-infra-gcr-promoter@k8s-artifacts-prod.iam.gserviceaccount.com');
  });

  test('edges share one frozen object per repository and one frozen tag list per digest', () => {
    const parsed = parsePlainManifest('m.yaml', apply());
    const edges = expandEdges(parsed.spec!);
    assert.equal(edges.length, 4);
    const [a, b] = edges.filter((e) => e.digest === B);
    assert.equal(a!.src, b!.src, 'one source object');
    assert.equal(a!.tags, b!.tags, 'one tag array');
    assert.ok(Object.isFrozen(a!.src) && Object.isFrozen(a!.tags));
    assert.throws(() => { (a!.tags as string[]).push('x'); }, TypeError);
    assert.equal(edges.filter((e) => e.digest === A)[0]!.dst, a!.dst, 'one destination object for both digests');
  });

  test('a digest without tags becomes tagless edges', () => {
    const parsed = parsePlainManifest('m.yaml', apply(replace(10, `      "${B}": []`)));
    const tagless = expandEdges(parsed.spec!).filter((e) => e.digest === B);
    assert.deepEqual(tagless.map((e) => [ref(e.src), ref(e.dst), e.tags]), [
      ['gcr.io/staging/app', 'gcr.io/prod-a/app', []],
      ['gcr.io/staging/app', 'gcr.io/prod-b/app', []],
    ]);
  });
});

describe('kpromo acceptance rules (issue 13)', () => {
  test('an unquoted numeric tag is read from its text, as kpromo reads it', () => {
    const parsed = parsePlainManifest('m.yaml', apply(replace(9, `      "${A}": [1.0, 2, 1.10]`)));
    assert.deepEqual(parsed.errors, []);
    assert.deepEqual(parsed.spec!.images[0]!.dmap[A], ['1.0', '2', '1.10']);
    const block = parsePlainManifest('m.yaml', apply(replace(9, `      "${A}":\n      - 1.0\n      - v1`)));
    assert.deepEqual(block.spec!.images[0]!.dmap[A], ['1.0', 'v1']);
  });

  test('a digest with no value promotes untagged, as kpromo reads it', () => {
    const parsed = parsePlainManifest('m.yaml', apply(replace(9, `      "${A}":`)));
    assert.deepEqual(parsed.errors, []);
    assert.deepEqual(parsed.spec!.images[0]!.dmap[A], []);
  });

  test('two entries of one image are merged into their union, with a warning at the second', () => {
    const parsed = parsePlainManifest('m.yaml', apply(insert(10, '  - name: app', '    dmap:', `      "${C}": ["v3"]`, `      "${A}": ["v1", "extra"]`)));
    assert.deepEqual(parsed.errors, []);
    assert.deepEqual(parsed.spec!.images, [{ name: 'app', dmap: { [A]: ['v1', 'extra'], [B]: ['v2', 'latest'], [C]: ['v3'] } }]);
    assert.deepEqual(parsed.warnings.map((w) => `${w.line}:${w.column} ${w.reason}`), ['11:11 DuplicateImage']);
  });

  test('a malformed digest refuses that entry only; the other digests of the image go on', () => {
    const parsed = parsePlainManifest('m.yaml', apply(replace(9, `      "sha256:${'a'.repeat(63)}": ["v1"]`), insert(10, `      "ha256:${'c'.repeat(64)}": ["v3"]`)));
    assert.deepEqual(parsed.errors.map((e) => `${e.line}:${e.column} ${e.reason} ${e.scope}`), ['9:7 InvalidDigest entry', '11:7 InvalidDigest entry']);
    assert.deepEqual(parsed.errors[1]!.entry, { image: 'app', digest: `ha256:${'c'.repeat(64)}` });
    assert.deepEqual(Object.keys(parsed.spec!.images[0]!.dmap), [B]);
  });

  test('a problem inside one image refuses that image; the others go on', () => {
    const text = apply(insert(10, '  - name: tools', '    dmapp: {}', '  - name: Bad_Name', '    dmap:', `      "${C}": ["v1"]`, '  - name: ok', '    dmap:', `      "${C}": ["v1"]`));
    const parsed = parsePlainManifest('m.yaml', text);
    assert.deepEqual(parsed.errors.map((e) => `${e.line}:${e.column} ${e.reason} ${e.scope} ${e.entry?.image}`), [
      '12:5 UnknownField entry tools', '13:11 InvalidName entry ']);
    assert.deepEqual(parsed.spec!.images.map((i) => i.name), ['app', 'ok']);
  });

  test('a destination listed twice is dropped with a warning; source and destination at once is refused', () => {
    const parsed = parsePlainManifest('m.yaml', apply(insert(5, '  - name: gcr.io/prod-a')));
    assert.deepEqual(parsed.spec!.registries.map((r) => r.name), ['gcr.io/staging', 'gcr.io/prod-a', 'gcr.io/prod-b']);
    assert.equal(parsed.warnings[0]!.reason, 'DuplicateRegistry');
    const both = parsePlainManifest('m.yaml', apply(insert(5, '  - name: gcr.io/staging')));
    assert.equal(both.spec, undefined);
    assert.deepEqual(both.errors.map((e) => `${e.line}:${e.column} ${e.reason}`), ['6:11 SourceIsDestination']);
  });

  test('a registry port above 65535 is refused; 65535 is fine', () => {
    const bad = parsePlainManifest('m.yaml', apply(replace(4, '  - name: localhost:65536/prod')));
    assert.deepEqual(bad.errors.map((e) => e.reason), ['InvalidName']);
    assert.match(bad.errors[0]!.detail, /port 1-65535/);
    assert.deepEqual(parsePlainManifest('m.yaml', apply(replace(4, '  - name: localhost:65535/prod'))).errors, []);
    assert.deepEqual(parsePlainManifest('m.yaml', apply(replace(4, '  - name: localhost:0/prod'))).errors.map((e) => e.reason), ['InvalidName']);
  });
});

// [title, manifest text, reason, scope, "line:col", message after the location]
const cases: [string, string, string, string, string, string | RegExp][] = [
  ['unknown top-level field', apply(insert(10, 'imagez: []')), 'UnknownField', 'manifest', '11:1',
    'imagez: unknown field "imagez"; allowed here: registries, images — check the spelling or remove it'],
  ['unknown registry field', apply(insert(4, '    region: us')), 'UnknownField', 'manifest', '5:5',
    'registries[1].region: unknown field "region"; allowed here: name, src, service-account — check the spelling or remove it'],
  ['duplicate key', apply(insert(3, '    src: true')), 'DuplicateKey', 'manifest', '4:5',
    'registries[0].src: duplicate key "src" (first at line 3); a key may appear once in a mapping — remove or merge one of them'],
  ['invalid digest', apply(replace(9, '      "sha256:ABC": ["v1"]')), 'InvalidDigest', 'entry', '9:7',
    'images[0].dmap["sha256:ABC"]: "sha256:ABC" is not a digest: sha256: followed by 64 lowercase hex digits; this entry is skipped — fix or remove it'],
  ['invalid tag', apply(replace(10, `      "${B}": ["v2", "-latest"]`)), 'InvalidTag', 'entry', '10:89',
    `images[0].dmap["${B}"][1]: "-latest" is not a tag: a letter, digit or _ then up to 127 letters, digits, _, . or -; this entry is skipped`],
  ['tag too long', apply(replace(9, `      "${A}": ["${'v'.repeat(129)}"]`)), 'InvalidTag', 'entry', '9:83', /\[0\]: "v{77}\.\.\." is not a tag/],
  ['no src registry', apply(remove(3)), 'NoSourceRegistry', 'manifest', '2:3',
    'registries: no source registry; mark the staging registry with src: true'],
  ['two src registries', apply(insert(4, '    src: true')), 'MultipleSourceRegistries', 'manifest', '5:10',
    'registries[1].src: a second source registry "gcr.io/prod-a" (the first is "gcr.io/staging" at line 3); a manifest has exactly one src registry — set src: false on all but one'],
  ['only a src registry', apply(remove(4, 5)), 'NoDestinationRegistry', 'warning', '2:3',
    'registries: no destination registry, so nothing is promoted; add a registry without src: true'],
  ['duplicate registry', apply(replace(5, '  - name: gcr.io/prod-a')), 'DuplicateRegistry', 'warning', '5:11',
    'registries[2].name: registry "gcr.io/prod-a" is listed twice (first at line 4); this entry is ignored, as kpromo does — remove it'],
  ['duplicate image', apply(insert(10, '  - name: app', '    dmap:', `      "${C}": ["v3"]`)), 'DuplicateImage', 'warning', '11:11',
    'images[1].name: image "app" is also listed at line 7; both entries are promoted (as kpromo does) — merge them into one entry'],
  ['empty dmap', apply(remove(9, 10), replace(8, '    dmap: {}')), 'EmptyDmap', 'warning', '8:11',
    'images[0].dmap: image "app" has no digests, so nothing is promoted for it; list a digest in its dmap or remove the image'],
  ['empty image name', apply(replace(7, '  - name: ""')), 'EmptyValue', 'entry', '7:11', 'images[0].name: must not be empty; fill it in'],
  ['empty images list', apply(remove(7, 10), replace(6, 'images: []')), 'NoImages', 'warning', '6:9',
    'images: no images (an empty list); nothing is promoted from this manifest until images are added'],
  ['missing images', apply(remove(6, 10)), 'NoImages', 'warning', '1:1', 'images: no images; nothing is promoted from this manifest until images are added'],
  ['missing dmap', apply(remove(8, 10)), 'EmptyDmap', 'warning', '7:5', /^images\[0\]\.dmap: image "app" has no digests/],
  ['repeated tag', apply(replace(9, `      "${A}": ["v1", "v1"]`)), 'DuplicateTag', 'warning', '9:89', /\[1\]: tag "v1" is given to this digest twice/],
  ['wrong type', apply(replace(3, '    src: "yes"')), 'WrongType', 'manifest', '3:10', 'registries[0].src: expected true or false, got "yes"'],
  ['tags not a list', apply(replace(9, `      "${A}": v1`)), 'WrongType', 'entry', '9:82', `images[0].dmap["${A}"]: expected a list of tags, got "v1"; this entry is skipped`],
  ['invalid registry name', apply(replace(4, '  - name: GCR.io/Prod')), 'InvalidName', 'manifest', '4:11',
    'registries[1].name: "GCR.io/Prod" is not a registry: lowercase host[:port] (port 1-65535) and optional /path prefix, e.g. gcr.io/k8s-staging-bom'],
  ['YAML syntax', apply(replace(9, `      "${A}": ["v1"`)), 'YamlSyntax', 'manifest', /^\d+:\d+$/ as unknown as string, /fix the YAML syntax$/],
  ['two documents', `${apply()}---\nregistries: []\n`, 'YamlSyntax', 'manifest', '11:1',
    'a second YAML document; a manifest file holds one document — remove the ---'],
  ['empty file', '', 'NotAManifest', 'manifest', '1:1', 'the file is empty; a manifest needs registries and images'],
];

describe('manifest rules', () => {
  for (const [title, text, reason, scope, position, message] of cases) {
    test(`${title}: ${reason} (${scope})`, () => {
      const parsed = parsePlainManifest('dir/m.yaml', text);
      const [problem, ...rest] = [...parsed.errors, ...parsed.warnings];
      assert.deepEqual(rest.map((e) => e.message), [], 'exactly one problem');
      assert.ok(problem instanceof ManifestError);
      assert.equal(problem.reason, reason);
      assert.equal(problem.scope, scope);
      assert.equal(parsed.spec === undefined, scope === 'manifest', scope === 'manifest' ? 'refused as a whole' : 'accepted');
      assert.equal(problem.file, 'dir/m.yaml');
      if (typeof position === 'string') assert.equal(`${problem.line}:${problem.column}`, position);
      else assert.match(`${problem.line}:${problem.column}`, position);
      if (typeof message === 'string') assert.equal(problem.detail, message);
      else assert.match(problem.detail, message);
      assert.equal(problem.message, `dir/m.yaml:${problem.line}:${problem.column}: ${problem.detail}`);
    });
  }

  test('a tag given to two digests refuses both entries, each naming the other', () => {
    const parsed = parsePlainManifest('m.yaml', apply(replace(10, `      "${B}": ["v2", "v1"]`)));
    assert.deepEqual(parsed.errors.map((e) => `${e.line}:${e.column} ${e.reason} ${e.scope}`), ['9:83 TagConflict entry', '10:89 TagConflict entry']);
    assert.equal(parsed.errors[1]!.detail, `images[0].dmap["${B}"][1]: tag "v1" of image "app" is also given to ${A} (line 9); a tag names one digest, so neither entry is promoted — remove the tag from one of them`);
    assert.deepEqual(parsed.spec!.images, []);
  });

  test('every problem in a file is reported, not just the first', () => {
    const parsed = parsePlainManifest('m.yaml', apply(replace(9, '      "sha256:0": []'), insert(4, '    srcc: true'), insert(3, '    src: true')));
    assert.equal(parsed.spec, undefined);
    assert.deepEqual(parsed.errors.map((e) => `${e.line}:${e.column} ${e.reason}`), ['4:5 DuplicateKey', '6:5 UnknownField', '11:7 InvalidDigest']);
  });
});

describe('thin manifests', () => {
  test('each project is read on its own; problems are located in the file they concern', async () => {
    const { projects, errors } = await loadThinManifestDirectory('test/fixtures/manifests/thin-broken');
    assert.deepEqual(errors, []);
    assert.deepEqual(projects.map((p) => [p.project, p.parsed.spec !== undefined]), [['good', true], ['no-images', false], ['two-src', false], ['unknown', true]]);
    assert.deepEqual(projects.flatMap((p) => p.parsed.errors).map((e) => `${e.message} [${e.scope}]`), [
      'test/fixtures/manifests/thin-broken/manifests/no-images/promoter-manifest.yaml:1:1: this thin manifest has no images file test/fixtures/manifests/thin-broken/images/no-images/images.yaml; create it with the images to promote (a list of name and dmap) [manifest]',
      'test/fixtures/manifests/thin-broken/manifests/two-src/promoter-manifest.yaml:6:10: registries[2].src: a second source registry "gcr.io/b" (the first is "gcr.io/staging" at line 3); a manifest has exactly one src registry — set src: false on all but one [manifest]',
      `test/fixtures/manifests/thin-broken/images/two-src/images.yaml:3:81: [0].dmap["${A}"][0]: tag "v1" of image "app" is also given to ${B} (line 4); a tag names one digest, so neither entry is promoted — remove the tag from one of them [entry]`,
      `test/fixtures/manifests/thin-broken/images/two-src/images.yaml:4:81: [0].dmap["${B}"][0]: tag "v1" of image "app" is also given to ${A} (line 3); a tag names one digest, so neither entry is promoted — remove the tag from one of them [entry]`,
      'test/fixtures/manifests/thin-broken/images/unknown/images.yaml:2:3: [0].dmapp: unknown field "dmapp"; allowed here: name, dmap — check the spelling or remove it [entry]',
    ]);
    assert.ok(projects.flatMap((p) => p.parsed.errors).every((e) => e instanceof ManifestError));
  });
});

describe('for the controller', () => {
  test('reviewSpec refuses conflicting entries and keeps the rest; checkSpec still lists every error', () => {
    const spec = {
      registries: [{ name: 'gcr.io/staging', src: true }, { name: 'gcr.io/prod', src: false }],
      images: [{ name: 'app', dmap: { [A]: ['v1'], [B]: ['v1'], [C]: ['v2'] } }],
    };
    const locate: Locator = { report: (reason, path, message) => new ManifestError(reason, 'spec', 0, 0, `${path.join('.')}: ${message}`), line: () => 0 };
    const reviewed = reviewSpec(spec, locate);
    assert.deepEqual(reviewed.errors, []);
    assert.deepEqual(reviewed.refusedEntries.map((e) => e.entry), [{ image: 'app', digest: A }, { image: 'app', digest: B }]);
    assert.deepEqual(Object.keys(reviewed.spec!.images[0]!.dmap), [C]);
    assert.deepEqual(checkSpec(spec, locate.report, () => 0).map((e) => e.reason), ['TagConflict', 'TagConflict']);
  });
});
