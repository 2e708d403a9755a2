// Parsing benchmark: a synthetic thin-manifest tree the size of registry.k8s.io's (~70 projects,
// ~570,000 edges as kpromo counts them: one per tag), read by `hoist validate`,
// `hoist plan --parse-only` (summary and `-o json`), `hoist convert`, and side by side by kpromo's
// own parser (scripts/testbed/kpromo-edges: ParseThinManifestsFromDir + ToEdges, which also
// prints every edge as JSON). Wall time and peak RSS of each, from /usr/bin/time.
//
//   npm run bench:parse        (BENCH_SCALE=0.5 for half the digests; BENCH_RUNS=3 by default)
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { table, timed, type Timed } from './support/measure.ts';
import { writeThinTree } from './support/thin-tree.ts';
import { testbedCache } from '../test/support/testbed.ts';

const scale = Number(process.env.BENCH_SCALE ?? 0.92);
const runs = Number(process.env.BENCH_RUNS ?? 3);
const hoist = new URL('../bin/hoist.js', import.meta.url).pathname;
const kpromoEdges = join(testbedCache(), 'bin', 'kpromo-edges');

async function best(label: string, command: string, args: string[], out: string): Promise<string[]> {
  const all: Timed[] = [];
  for (let i = 0; i < runs; i++) {
    const t = await timed(command, args, out);
    if (t.code !== 0 && t.code !== 3) throw new Error(`${label} exited ${t.code}:\n${t.stderr.slice(-2000)}`);
    all.push(t);
  }
  const wall = all.map((t) => t.wallS).sort((a, b) => a - b);
  const rss = all.map((t) => t.rssKiB).sort((a, b) => a - b);
  const size = existsSync(out) ? statSync(out).size : 0;
  return [label, `${wall[0]!.toFixed(2)} s`, `${wall.at(-1)!.toFixed(2)} s`, `${Math.round(rss.at(-1)! / 1024)} MiB`, size ? `${(size / 1024 / 1024).toFixed(1)} MiB` : '-'];
}

async function main(): Promise<void> {
  const tmp = mkdtempSync(join(tmpdir(), 'hoist-bench-parse-'));
  try {
    const tree = join(tmp, 'tree');
    const shape = writeThinTree(tree, { scale });
    console.log(`tree: ${shape.projects} projects, ${shape.images} images, ${shape.digests.toLocaleString('en-US')} digests, `
      + `${(shape.bytes / 1024 / 1024).toFixed(1)} MiB of YAML; ${shape.edges.toLocaleString('en-US')} edges `
      + `(${shape.kpromoEdges.toLocaleString('en-US')} as kpromo counts them, one per tag); ${cpus().length} cores; best and worst of ${runs} runs\n`);
    const out = (name: string) => join(tmp, name);
    const rows: string[][] = [];
    rows.push(await best('hoist validate', process.execPath, [hoist, 'validate', tree], out('validate.txt')));
    rows.push(await best('hoist plan --parse-only', process.execPath, [hoist, 'plan', '--parse-only', '--thin-manifest-dir', tree], out('plan.txt')));
    rows.push(await best('hoist plan --parse-only -o json', process.execPath, [hoist, 'plan', '--parse-only', '-o', 'json', '--thin-manifest-dir', tree], out('plan.json')));
    rows.push(await best('hoist convert', process.execPath, [hoist, 'convert', tree], out('converted.yaml')));
    if (existsSync(kpromoEdges)) rows.push(await best('kpromo parser (ToEdges, JSON)', kpromoEdges, [tree], out('kpromo.json')));
    else console.log(`(kpromo-edges is not installed: run bash scripts/testbed/install.sh kpromo)\n`);
    console.log(table(['what', 'wall (best)', 'wall (worst)', 'peak RSS (worst)', 'output'], rows));
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

await main();
