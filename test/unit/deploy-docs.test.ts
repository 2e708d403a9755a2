// The user documentation keeps up with what it documents: every CRD field is in the resource
// reference, every chart value is in the chart's README, and links between the docs resolve.
// The troubleshooting guide's reason tables are generated from the catalogue and checked in
// test/unit/reasons.test.ts.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { parse } from 'yaml';

const read = (path: string) => readFileSync(path, 'utf8');
const guides = ['getting-started.md', 'ci.md', 'migrating-from-kpromo.md', 'resource-reference.md', 'operations.md', 'troubleshooting.md'];

test('docs/README.md links every guide, and every relative link in them resolves', () => {
  const index = read('docs/README.md');
  for (const guide of guides) assert.match(index, new RegExp(`\\]\\(${guide.replace('.', '\\.')}\\)`), guide);
  const files = ['docs/README.md', ...guides.map((g) => `docs/${g}`), 'charts/hoist/README.md', 'deploy/argocd/README.md', 'README.md', 'examples/README.md', 'examples/gitops/README.md'];
  for (const file of files) {
    // Inline code (patterns, shell) is not a link.
    for (const m of read(file).replace(/`[^`\n]*`/g, '').matchAll(/\]\(([^)#\s]+)(#[^)]*)?\)/g)) {
      const target = m[1]!;
      if (/^[a-z]+:/.test(target)) continue;
      assert.ok(existsSync(join(dirname(file), target)), `${file}: broken link ${target}`);
    }
  }
});

test('the resource reference lists every field of the CRD', () => {
  const crd = parse(read('crds/hoist.dev_promotionmanifests.yaml'));
  const paths: string[] = [];
  const walk = (schema: any, path: string) => {
    paths.push(path);
    const object = schema.type === 'array' ? schema.items : schema;
    const prefix = schema.type === 'array' ? `${path}[]` : path;
    for (const [name, child] of Object.entries<any>(object?.properties ?? {})) walk(child, `${prefix}.${name}`);
  };
  const root = crd.spec.versions[0].schema.openAPIV3Schema.properties;
  for (const top of ['spec', 'status']) for (const [name, child] of Object.entries<any>(root[top].properties)) walk(child, `${top}.${name}`);
  const reference = read('docs/resource-reference.md');
  const missing = paths.filter((p) => !reference.includes(`\`${p}\``));
  assert.deepEqual(missing, [], 'docs/resource-reference.md is missing fields');
  assert.ok(paths.length > 50);
});

test('the chart README documents every value', () => {
  const readme = read('charts/hoist/README.md');
  const keys: string[] = [];
  const stack: { indent: number; key: string }[] = [];
  let described = false;
  for (const line of read('charts/hoist/values.yaml').split('\n')) {
    if (/^\s*# -- /.test(line)) { described = true; continue; }
    const m = /^(\s*)([A-Za-z]\w*):\s*(.*)$/.exec(line);
    if (!m) continue;
    const indent = m[1]!.length;
    while (stack.length > 0 && stack.at(-1)!.indent >= indent) stack.pop();
    const path = [...stack.map((s) => s.key), m[2]!].join('.');
    if (described) keys.push(path);
    described = false;
    if (m[3] === '') stack.push({ indent, key: m[2]! });
  }
  assert.ok(keys.length > 60);
  assert.deepEqual(keys.filter((k) => !readme.includes(`| \`${k}\` |`)), []);
});

test('getting started shows the local controller, Helm, kustomize, a first manifest, kubectl get pm -w and the GitOps examples', () => {
  const guide = read('docs/getting-started.md');
  for (const text of ['npm run demo:controller', 'npx hoist controller', 'helm install hoist charts/hoist', 'deploy/base', 'kind: PromotionManifest', 'kubectl get pm -n releng -w',
    'examples/gitops', 'wait: true', 'deploy/argocd/health.lua']) {
    assert.ok(guide.includes(text), text);
  }
});
