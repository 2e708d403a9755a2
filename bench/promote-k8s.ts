// bench:promote's registry.k8s.io-sized mode (BENCH_MODE=k8s): the real tree's shape (the
// generator of bench:parse, bench/support/thin-tree.ts: ~70 projects, ~16,000 digests, 23
// regional destinations, one project with 70) planned by `hoist plan --thin-manifest-dir`
// against 24 read-only registries (staging + 23 regions; bench/support/static-registry.ts) that
// hold every edge already, each with the fault proxy's latency and quota. Three runs, each
// `hoist` in its own process under /usr/bin/time:
//   1. first plan: nothing cached (--cache-file pointing at a new file, which it writes);
//   2. steady state: the same plan with that cache;
//   3. verification run: the cache, with --verify-interval 0s (what a run past the interval does).
//   4. the first plan again with Node's default heap sizing (no NODE_OPTIONS).
// Runs 1-3 use BENCH_NODE_OPTIONS (default "--max-old-space-size=320 --max-semi-space-size=16":
// how a memory-bounded environment runs Node; docs/operations.md). For each: wall time against
// the quota floor, requests against the minimum, peak RSS.
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { cpus, totalmem, tmpdir } from 'node:os';
import { join } from 'node:path';
import { countsOf, methods, table, timed, total, type HostCounts } from './support/measure.ts';
import { repository, startStaticRegistry, type StaticRegistry } from './support/static-registry.ts';
import { treeProjects, writeThinTree, type TreeRegistries } from './support/thin-tree.ts';

const env = (name: string, fallback: number) => Number(process.env[name] ?? fallback);
const hoistBin = new URL('../bin/hoist.js', import.meta.url).pathname;

interface Report { outcome: string; summary: Record<string, number>; phases: { name: string; durationMs: number }[] }

export async function k8sBenchmark(): Promise<void> {
  const scale = env('BENCH_SCALE', 0.92);
  const latencyMs = env('BENCH_LATENCY_MS', 20);
  const quotaPerS = env('BENCH_QUOTA', 100);
  const regions = 23;
  const tmp = mkdtempSync(join(tmpdir(), 'hoist-bench-k8s-'));
  const servers: StaticRegistry[] = [];
  try {
    const staging = await startStaticRegistry();
    const destinations = await Promise.all(Array.from({ length: regions }, () => startStaticRegistry()));
    servers.push(staging, ...destinations);
    const names: TreeRegistries = {
      source: (project) => `${staging.host}/${project}`,
      destination: (project, d) => `${destinations[d % regions]!.host}/${d >= regions ? `mirror${Math.floor(d / regions)}/` : ''}images/${project.replace(/^k8s-staging-/, '')}`,
    };
    const tree = join(tmp, 'tree');
    const shape = writeThinTree(tree, { scale, registries: names });

    // Production holds every edge already; staging every digest. The minimum a plan needs per
    // host: one tag list per repository, one HEAD per named tag, one per untagged digest.
    const minimumByHost = new Map<string, number>(destinations.map((d) => [d.host, 0]));
    const minimumLists = new Map<string, number>(destinations.map((d) => [d.host, 0]));
    let namedTags = 0;
    for (const project of treeProjects({ scale, registries: names })) {
      for (const image of project.images) {
        for (const [digest] of image.dmap) repository(staging, `${project.name}/${image.name}`).digests.add(digest);
        for (const destination of project.destinations) {
          const host = destination.slice(0, destination.indexOf('/'));
          const registry = destinations.find((d) => d.host === host)!;
          const repo = repository(registry, `${destination.slice(host.length + 1)}/${image.name}`);
          let reads = 1;
          for (const [digest, tags] of image.dmap) {
            repo.digests.add(digest);
            for (const tag of tags) if (!repo.tags.has(tag)) { repo.tags.set(tag, digest); reads += 1; namedTags += 1; }
            if (tags.length === 0) reads += 1;
          }
          minimumByHost.set(host, minimumByHost.get(host)! + reads);
          minimumLists.set(host, minimumLists.get(host)! + 1);
        }
      }
    }
    const minimum = [...minimumByHost.values()].reduce((a, b) => a + b, 0);
    const lists = [...minimumLists.values()].reduce((a, b) => a + b, 0);
    const floorS = Math.max(...minimumByHost.values()) / quotaPerS;
    const listFloorS = Math.max(...minimumLists.values()) / quotaPerS;
    for (const s of servers) {
      s.setLatency(latencyMs);
      s.setQuota({ limit: quotaPerS, windowMs: 1000 });
    }

    const cpu = cpus();
    console.log('# Hoist plan benchmark, registry.k8s.io-sized (BENCH_MODE=k8s)\n');
    console.log(`machine:  ${cpu.length} cores (${cpu[0]?.model.trim() ?? '?'}), ${(totalmem() / 1024 ** 3).toFixed(0)} GiB RAM, ${process.platform}/${process.arch}, node ${process.version}; the registries run in this process, hoist in its own`);
    console.log(`tree:     BENCH_SCALE=${scale}: ${shape.projects} projects, ${shape.images} images, ${shape.digests} digests, ${shape.edges} edges (${shape.kpromoEdges} as kpromo counts them), ${(shape.bytes / 1024 / 1024).toFixed(1)} MiB of YAML`);
    console.log(`hosts:    staging + ${regions} regions, each a read-only registry holding every edge (${namedTags} destination tags), ${latencyMs} ms per request, ${quotaPerS} requests/s (sliding 1 s window, 429 + Retry-After past it)`);
    console.log(`minimum:  ${minimum} requests for a plan that reads every tag (${lists} tag lists + ${minimum - lists} tag and digest HEADs); busiest host ${Math.max(...minimumByHost.values())} -> quota floor ${floorS.toFixed(1)} s; tag lists alone: floor ${listFloorS.toFixed(1)} s\n`);

    const cache = join(tmp, 'inventory.json');
    const nodeOptions = process.env.BENCH_NODE_OPTIONS ?? '--max-old-space-size=320 --max-semi-space-size=16';
    console.log(`node options: NODE_OPTIONS="${nodeOptions}" for runs 1-3\n`);
    const run = async (label: string, args: string[], bounded = true) => {
      for (const s of servers) { s.requests.splice(0); s.connections = 0; }
      const out = join(tmp, `${label.replace(/\W+/g, '-')}.json`);
      const childEnv = bounded ? { ...process.env, NODE_OPTIONS: nodeOptions } : { ...process.env, NODE_OPTIONS: '' };
      const t = await timed(process.execPath, [hoistBin, 'plan', '--thin-manifest-dir', tree, '-o', 'json', '--quiet', '--cache-file', cache, ...args], out, childEnv);
      if (t.code !== 0) throw new Error(`hoist plan exited ${t.code}:\n${t.stderr.slice(-3000)}`);
      const report = JSON.parse(readFileSync(out, 'utf8')) as Report;
      const hosts: HostCounts[] = servers.map(countsOf);
      const totals = total(hosts);
      const planS = (report.phases.find((p) => p.name === 'Plan')?.durationMs ?? 0) / 1000;
      const connections = Math.max(...servers.map((s) => s.connections));
      console.log(`${label}: ${t.wallS.toFixed(1)} s (Plan phase ${planS.toFixed(1)} s), ${totals.requests} requests (${totals.throttled} answered 429), peak RSS ${(t.rssKiB / 1024).toFixed(0)} MiB, ${report.outcome} ${JSON.stringify(report.summary)}`);
      return { label, wallS: t.wallS, planS, rssKiB: t.rssKiB, totals, connections, report, outputMiB: statSync(out).size / 1024 / 1024 };
    };
    rmSync(cache, { force: true });
    const first = await run('first plan (nothing cached)', []);
    const cacheMiB = statSync(cache).size / 1024 / 1024;
    const steady = await run('steady state (with the cache)', []);
    const verification = await run('verification run (cache, --verify-interval 0s)', ['--verify-interval', '0s']);
    rmSync(cache, { force: true });
    const unbounded = await run('first plan, Node\'s default heap sizing', [], false);

    console.log('\n## Results\n');
    console.log(table(
      ['run', 'wall', 'Plan phase', 'quota floor', 'wall / floor', 'Plan / floor', 'requests', 'vs minimum', '429s', 'by method', 'connections per host (max)', 'peak RSS'],
      [[first, minimum, floorS], [steady, lists, listFloorS], [verification, minimum, floorS], [unbounded, minimum, floorS]].map(([m, min, floor]) => {
        const r = m as typeof first;
        return [
          r.label, `${r.wallS.toFixed(1)} s`, `${r.planS.toFixed(1)} s`, `${(floor as number).toFixed(1)} s`, `${(r.wallS / (floor as number)).toFixed(2)}x`, `${(r.planS / (floor as number)).toFixed(2)}x`,
          String(r.totals.requests), `${(r.totals.admitted / (min as number)).toFixed(3)}x`, String(r.totals.throttled), methods(r.totals.byMethod),
          String(r.connections), `${(r.rssKiB / 1024).toFixed(0)} MiB`,
        ];
      }),
    ));
    console.log(`\nthe cache file is ${cacheMiB.toFixed(1)} MiB; the JSON report ${first.outputMiB.toFixed(0)} MiB`);
  } finally {
    await Promise.all(servers.map((s) => s.close()));
    rmSync(tmp, { recursive: true, force: true });
  }
}
