// Dependencies point down, as DESIGN.md draws them: cli -> controller -> pipeline -> (signing,
// provenance) -> (registry, manifest, observability) -> api. This reads every import in src and
// fails on an import into a higher layer, on a cycle between folders, and on a pipeline phase
// importing another phase (what phases share lives in its own pipeline module).
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { test } from 'node:test';

/** Higher may import lower or equal, never the reverse; equal layers must not form a cycle. */
const layers: Record<string, number> = {
  api: 0, '(root)': 0,
  registry: 1, manifest: 1, observability: 1,
  signing: 2, provenance: 2,
  pipeline: 3, replication: 3,
  controller: 4,
  cli: 5,
};

/**
 * Known folder edges that break the rules, each with why it is tolerated for now. Keep this
 * empty; an entry whose edge no longer exists fails the test, so it cannot outlive its reason.
 */
const allowed: Record<string, string> = {};

interface Import { from: string; to: string }

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []));
}

/** Every relative import and re-export of every module under `root`, as paths relative to it. */
function imports(root: string): Import[] {
  const found: Import[] = [];
  for (const file of files(root)) {
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(/(?:^|\n)\s*(?:import|export)\b[^'";]*?from\s*'(\.[^']+)'|\bimport\(\s*'(\.[^']+)'\s*\)/g)) {
      const spec = m[1] ?? m[2]!;
      found.push({ from: relative(root, file), to: relative(root, normalize(join(dirname(file), spec))) });
    }
  }
  return found;
}

const folderOf = (path: string) => (path.includes('/') ? path.slice(0, path.indexOf('/')) : '(root)');

/** Problems in an import graph: upward imports, folder cycles, phases importing phases. */
function problems(edges: Import[], tolerated: Record<string, string> = {}): string[] {
  const out: string[] = [];
  const folderEdges = new Map<string, Import>();
  for (const edge of edges) {
    const [a, b] = [folderOf(edge.from), folderOf(edge.to)];
    for (const f of [a, b]) if (!(f in layers)) out.push(`${f}: a folder the layer map does not know; add it to test/unit/import-graph.test.ts`);
    if (edge.from.startsWith('pipeline/phases/') && edge.to.startsWith('pipeline/phases/')) out.push(`${edge.from} imports another phase, ${edge.to}: move what they share into its own pipeline module`);
    if (a === b || `${a} -> ${b}` in tolerated) continue;
    if (layers[b]! > layers[a]!) out.push(`${edge.from} imports ${edge.to}: ${a} may not depend on ${b}, which sits above it`);
    folderEdges.set(`${a} -> ${b}`, edge);
  }
  const next = new Map<string, string[]>();
  for (const key of folderEdges.keys()) {
    const [a, b] = key.split(' -> ') as [string, string];
    next.set(a, [...(next.get(a) ?? []), b]);
  }
  const reaches = (start: string, goal: string, seen = new Set<string>()): boolean => (next.get(start) ?? []).some((n) => n === goal || (!seen.has(n) && seen.add(n) && reaches(n, goal, seen)));
  for (const [key, edge] of folderEdges) {
    const [a, b] = key.split(' -> ') as [string, string];
    if (reaches(b, a)) out.push(`folder cycle: ${a} -> ${b} (${edge.from} imports ${edge.to}) and ${b} reaches ${a} back`);
  }
  return out;
}

test('imports point down the layers, with no folder cycles and no phase importing a phase', () => {
  const graph = imports('src');
  assert.ok(graph.length > 100, 'the imports of src were read');
  assert.deepEqual(problems(graph, allowed), []);
  for (const key of Object.keys(allowed)) {
    const [a, b] = key.split(' -> ');
    assert.ok(graph.some((e) => folderOf(e.from) === a && folderOf(e.to) === b), `the allowed edge ${key} is gone: delete its entry`);
  }
});

test('the check finds an upward import, a cycle between folders and a phase importing a phase', () => {
  const found = problems([
    { from: 'observability/metrics.ts', to: 'controller/queue.ts' },
    { from: 'signing/image.ts', to: 'provenance/statement.ts' },
    { from: 'provenance/attestations.ts', to: 'signing/verify.ts' },
    { from: 'pipeline/phases/attest.ts', to: 'pipeline/phases/sign.ts' },
    { from: 'pipeline/engine.ts', to: 'registry/index.ts' },
    { from: 'widgets/x.ts', to: 'api/reference.ts' },
  ]);
  assert.equal(found.filter((p) => p.includes('may not depend on controller')).length, 1, found.join('\n'));
  assert.equal(found.filter((p) => p.startsWith('folder cycle')).length, 2, found.join('\n'));
  assert.equal(found.filter((p) => p.includes('imports another phase')).length, 1, found.join('\n'));
  assert.equal(found.filter((p) => p.includes('widgets')).length, 1, found.join('\n'));
  assert.equal(found.length, 5, found.join('\n'));
});
