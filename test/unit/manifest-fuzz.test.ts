// Random mutations of valid manifests: the readers never throw; each input is either accepted
// (and expands into edges) or refused with ManifestErrors that point inside the file.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ManifestError } from '../../src/manifest/errors.ts';
import { parsePlainManifest, parseThinManifest } from '../../src/manifest/kpromo.ts';
import { parseYamlFast, parseYamlFull } from '../../src/manifest/yaml.ts';
import { expandEdges, type PromotionSpec } from '../../src/manifest/model.ts';
import { parsePromotionManifests, renderPromotionManifest, toPromotionManifest } from '../../src/manifest/resource.ts';
import { seededRandom } from '../support/random.ts';


const plain = `registries:
  - name: gcr.io/staging
    src: true
  - name: us-docker.pkg.dev/prod/images
    service-account: promoter@example.iam.gserviceaccount.com
  - name: eu.gcr.io/prod
images:
  - name: app
    dmap:
      "sha256:${'a'.repeat(64)}": ["v1.0.0", "stable"]
      "sha256:${'b'.repeat(64)}": []
  - name: tools/cli
    dmap:
      "sha256:${'c'.repeat(64)}": ["v2"]
`;

const spec = parsePlainManifest('seed.yaml', plain);
assert.ok(spec.spec);
const resource = renderPromotionManifest(toPromotionManifest('app', spec.spec, 'prod'));

const tokens = [':', ': ', '-', '- ', ' ', '  ', '"', "'", '[', ']', '{', '}', ',', '&a ', '*a', '!!str ', '#', '\n', '\t', 'x', '0', '|', '>', '?', 'true', 'null', 'sha256:', '---\n', '\\'];

function mutate(text: string, random: () => number): string {
  let out = text;
  const rounds = 1 + Math.floor(random() * 3);
  for (let r = 0; r < rounds; r++) {
    const at = Math.floor(random() * (out.length + 1));
    const lines = out.split('\n');
    const line = Math.floor(random() * lines.length);
    switch (Math.floor(random() * 6)) {
      case 0: out = out.slice(0, at) + out.slice(at + 1 + Math.floor(random() * 4)); break;
      case 1: out = out.slice(0, at) + tokens[Math.floor(random() * tokens.length)]! + out.slice(at); break;
      case 2: lines.splice(line, 0, lines[line]!); out = lines.join('\n'); break;
      case 3: lines.splice(line, 1); out = lines.join('\n'); break;
      case 4: { const other = Math.floor(random() * lines.length); [lines[line], lines[other]] = [lines[other]!, lines[line]!]; out = lines.join('\n'); break; }
      default: out = out.replace(/true|"v2"|app|\[\]/, () => tokens[Math.floor(random() * tokens.length)]!);
    }
  }
  return out;
}

function checkRefusal(errors: ManifestError[], text: string, file: string): void {
  assert.ok(errors.length > 0, 'refused without an error');
  for (const error of errors) checkLocated(error, text, file);
}

function checkLocated(error: ManifestError, text: string, file: string): void {
  const lineCount = text.split('\n').length;
  {
    assert.ok(error instanceof ManifestError, `not a ManifestError: ${String(error)}`);
    assert.equal(error.file, file);
    assert.ok(error.line >= 1 && error.line <= lineCount, `line ${error.line} outside the file (${lineCount} lines)`);
    assert.ok(error.column >= 1, `column ${error.column}`);
    assert.ok(error.message.startsWith(`${file}:${error.line}:${error.column}: `));
    assert.match(error.reason, /^[A-Z][A-Za-z]+$/);
  }
}

function checkAccepted(accepted: PromotionSpec): void {
  for (const edge of expandEdges(accepted)) assert.match(edge.digest, /^sha256:[0-9a-f]{64}$/);
}

/**
 * Seeds per fuzz test: all of them in `npm test`; `npm run test:unit`, the quick loop, sets
 * FUZZ_SCALE to run the first fifth (the same seeds, so a failure there reproduces in both).
 */
const seeds = (n: number) => Math.max(1, Math.round(n * Number(process.env.FUZZ_SCALE ?? 1)));

test('mutated kpromo manifests are accepted or refused with located errors, never thrown at', () => {
  for (let seed = 1; seed <= seeds(2500); seed++) {
    const text = mutate(plain, seededRandom(seed));
    try {
      const parsed = parsePlainManifest('fuzz.yaml', text);
      if (parsed.spec) checkAccepted(parsed.spec);
      else checkRefusal(parsed.errors, text, 'fuzz.yaml');
      for (const problem of [...parsed.errors, ...parsed.warnings]) checkLocated(problem, text, 'fuzz.yaml');
    } catch (error) {
      assert.fail(`seed ${seed}: ${(error as Error).stack}\n--- input ---\n${text}`);
    }
  }
});

test('mutated PromotionManifests are accepted or refused with located errors, never thrown at', () => {
  for (let seed = 1; seed <= seeds(1500); seed++) {
    const text = mutate(resource, seededRandom(seed));
    try {
      const { manifests, errors } = parsePromotionManifests('fuzz.yaml', text);
      if (errors.length > 0) checkRefusal(errors, text, 'fuzz.yaml');
      for (const m of manifests) checkAccepted(m.spec);
    } catch (error) {
      assert.fail(`seed ${seed}: ${(error as Error).stack}\n--- input ---\n${text}`);
    }
  }
});

test('an alias bomb is refused, not expanded', () => {
  const bomb = ['a: &a ["x","x","x","x","x","x","x","x","x"]'];
  for (let i = 0; i < 8; i++) bomb.push(`${String.fromCharCode(98 + i)}: &${String.fromCharCode(98 + i)} [${Array(9).fill(`*${String.fromCharCode(97 + i)}`).join(',')}]`);
  const parsed = parsePlainManifest('bomb.yaml', `${bomb.join('\n')}\nregistries: *i\n`);
  assert.equal(parsed.spec, undefined);
  assert.equal(parsed.errors[0]!.reason, 'YamlSyntax');
  assert.match(parsed.errors[0]!.detail, /aliases expand this document/);
});

test('the fast YAML reader and the yaml package build the same tree wherever the fast one answers', () => {
  let answered = 0;
  const inputs = [plain, resource, ...Array.from({ length: Number(process.env.FUZZ_N ?? seeds(3000)) }, (_, i) => mutate(i % 2 ? plain : resource, seededRandom(10_000 + i)))];
  for (const [i, text] of inputs.entries()) {
    const fast = parseYamlFast(text);
    if (!fast) continue;
    answered++;
    const full = parseYamlFull('x.yaml', text);
    assert.deepEqual(full.errors.map((e) => e.message), [], `input ${i}: the fast reader accepted what the yaml package refuses:\n${text}`);
    assert.deepEqual(fast, full.documents, `input ${i}:\n${text}`);
  }
  assert.ok(answered > inputs.length / 3, `the fast reader answered only ${answered} of ${inputs.length}`);
});

// How the reading scales with registry.k8s.io-sized trees is bench/parse.ts' to show (npm run bench:parse).
test('a dmap of 20,000 digests is read whole, duplicates found at their line', () => {
  const lines = ['- name: app', '  dmap:'];
  for (let i = 0; i < 20_000; i++) lines.push(`    "sha256:${i.toString(16).padStart(64, '0')}": ["v${i}"]`);
  lines.push(`    "sha256:${'0'.repeat(64)}": ["again"]`);
  const parsed = parseThinManifest({ file: 'm.yaml', text: 'registries:\n- name: gcr.io/s\n  src: true\n- name: gcr.io/p\n' }, { file: 'i.yaml', text: `${lines.join('\n')}\n` });
  assert.deepEqual(parsed.errors.map((e) => `${e.line} ${e.reason}`), ['20003 DuplicateKey']);
  assert.equal(Object.keys(parsed.spec!.images[0]!.dmap).length, 19_999);
});
