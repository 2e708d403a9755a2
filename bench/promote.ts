// Promotion benchmark: a k8s.io-shaped workload (100 kpromo manifests, thousands of digests, up
// to 22 destination registries each) promoted by `hoist` through latency and rate-limit proxies,
// one proxy per registry host, in front of real registries. Measures the first plan, the steady
// state with the inventory cache (plan and promote), and a verification run, each against the
// minimum number of requests and the quota floor; then the promotion of new digests by Hoist,
// `skopeo sync` and `regsync` over the same edges, side by side; then a signed promotion and its
// steady state (issue 18: nothing beyond the tag lists).
//
//   npm run bench:promote                 (BENCH_SCALE=0.4 for four times the digests; docs/benchmarks.md)
//   BENCH_MODE=k8s npm run bench:promote  (registry.k8s.io's size, bench/promote-k8s.ts)
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, totalmem, tmpdir } from 'node:os';
import { join } from 'node:path';
import { startFaultProxy, type FaultProxy } from '../test/support/fault-proxy.ts';
import { pushImage } from '../test/support/images.ts';
import { startRegistry, type TestRegistry } from '../test/support/registry.ts';
import { runTool, tool } from '../test/support/testbed.ts';
import { countsOf, limited, methods, table, timed, toolVersion, total, type HostCounts, type Timed, type Totals } from './support/measure.ts';
import { addDigests, generateWorkload, shapeOf, writeManifests, type WorkloadDigest, type WorkloadImage } from './support/workload.ts';

const env = (name: string, fallback: number) => Number(process.env[name] ?? fallback);
// Defaults sized for a run of about 5 minutes on 2 cores; BENCH_SCALE=1 is ~1,700 digests and
// ~20,000 edges (the k8s.io shape at full size) and takes far longer under a 100/s quota.
const scale = env('BENCH_SCALE', 0.1);
const latencyMs = env('BENCH_LATENCY_MS', 20);
const quotaPerS = env('BENCH_QUOTA', 100);
const newDigests = Math.max(1, env('BENCH_NEW_DIGESTS', 60));
const hostsCount = 22;
const backendsCount = env('BENCH_BACKENDS', 3);
const promoteConcurrency = env('BENCH_CONCURRENCY', 32);
const skopeoParallel = env('BENCH_SKOPEO_PARALLEL', 6);
// The new-digest comparison with skopeo and regsync (BENCH_PEERS=0 skips it at large scales).
const peers = process.env.BENCH_PEERS !== '0';
const hoistBin = new URL('../bin/hoist.js', import.meta.url).pathname;

// skopeo keeps a blob-info cache and would mount blobs it saw in another repository; each of
// its runs starts without it (as bench/copy.ts does). As root it lives here.
const skopeoCacheDir = '/var/lib/containers/cache';
const containersDirExisted = existsSync('/var/lib/containers');
function forgetSkopeoCache(): void {
  for (const file of ['blob-info-cache-v1.boltdb', 'blob-info-cache-v1.sqlite']) rmSync(`${skopeoCacheDir}/${file}`, { force: true });
}

interface Measured { label: string; wallS: number; planS?: number; rssKiB: number; hosts: HostCounts[]; totals: Totals; connections?: number; report?: Report }
interface Report { outcome: string; summary: Record<string, number>; phases: { name: string; durationMs: number }[] }

const accept = 'application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json';


/** One hoist run, as a user runs it: its own process, -o json, under /usr/bin/time. */
interface Runner {
  hoist(label: string, args: string[], okCodes?: number[]): Promise<Measured>;
  collect(label: string, t: Pick<Timed, 'wallS' | 'rssKiB'>, report?: Report): Measured;
  reset(): void;
}

interface Setup {
  tmp: string;
  staging: TestRegistry;
  backends: TestRegistry[];
  stagingProxy: FaultProxy;
  destProxies: FaultProxy[];
  regionNames(prefix: string): string[];
  stagingName: string;
}

/** Per destination host: what a plan that reads every tag needs (a list per repository, a HEAD per tag), and the lists alone. */
function planMinimum(setup: Setup, images: WorkloadImage[]): { byHost: Map<string, number>; lists: Map<string, number> } {
  const byHost = new Map<string, number>();
  const lists = new Map<string, number>();
  for (const image of images) {
    if (image.digests.length === 0) continue;
    const tags = image.digests.reduce((n, d) => n + Math.max(d.tags.length, 1), 0);
    for (const k of image.destinations) {
      const host = setup.destProxies[k]!.host;
      byHost.set(host, (byHost.get(host) ?? 0) + 1 + tags);
      lists.set(host, (lists.get(host) ?? 0) + 1);
    }
  }
  return { byHost, lists };
}

/**
 * The fewest requests that promote `images` into empty repositories: a tag list per
 * repository; per digest at staging a HEAD, its manifest and its 2 blobs (once, whatever the
 * number of destinations); per edge a POST and a PUT per blob (another host: no mount); and a
 * manifest PUT per tag. Busiest host too, for the quota floor.
 */
function promoteMinimum(setup: Setup, images: WorkloadImage[]): { total: number; busiest: number } {
  const byHost = new Map<string, number>([[setup.stagingProxy.host, 0]]);
  for (const image of images) {
    if (image.digests.length === 0) continue;
    byHost.set(setup.stagingProxy.host, byHost.get(setup.stagingProxy.host)! + 4 * image.digests.length);
    const perRepo = 1 + image.digests.reduce((n, d) => n + 4 + Math.max(d.tags.length, 1), 0);
    for (const k of image.destinations) byHost.set(setup.destProxies[k]!.host, (byHost.get(setup.destProxies[k]!.host) ?? 0) + perRepo);
  }
  return { total: [...byHost.values()].reduce((a, b) => a + b, 0), busiest: Math.max(...byHost.values()) };
}

async function main(): Promise<void> {
  const tmp = mkdtempSync(join(tmpdir(), 'hoist-bench-promote-'));
  const registries: TestRegistry[] = [];
  const proxies: FaultProxy[] = [];
  try {
    const benchStarted = performance.now();
    // --- registries and proxies -------------------------------------------------------------
    registries.push(...await Promise.all(Array.from({ length: backendsCount + 1 }, () => startRegistry())));
    const [staging, ...backends] = registries as [TestRegistry, ...TestRegistry[]];
    const stagingProxy = await startFaultProxy(staging.url);
    const destProxies = await Promise.all(Array.from({ length: hostsCount }, (_, k) => startFaultProxy(backends[k % backends.length]!.url)));
    proxies.push(stagingProxy, ...destProxies);
    const setup: Setup = {
      tmp, staging, backends, stagingProxy, destProxies, stagingName: `${stagingProxy.host}/staging`,
      regionNames: (prefix) => destProxies.map((p, k) => `${p.host}/${prefix}${k}`),
    };

    // --- workload ---------------------------------------------------------------------------
    const workload = generateWorkload({ manifests: 100, scale, registries: hostsCount, minDestinations: 3, seed: 20261125 });
    const added = addDigests(workload, newDigests, 7);
    const shape = shapeOf(workload.images);
    const newImages: WorkloadImage[] = workload.images.map((i) => ({ ...i, digests: added.get(i.name) ?? [] }));
    const newShape = shapeOf(newImages);

    const cpu = cpus();
    console.log('# Hoist promotion benchmark\n');
    console.log(`machine:   ${cpu.length} cores (${cpu[0]?.model.trim() ?? '?'}), ${(totalmem() / 1024 ** 3).toFixed(0)} GiB RAM, ${process.platform}/${process.arch}; registries, proxies, hoist and its peers share them`);
    console.log(`node:      ${process.version}; hoist runs with NODE_OPTIONS=${JSON.stringify(process.env.BENCH_NODE_OPTIONS ?? '')}`);
    console.log(`skopeo:    ${await toolVersion('skopeo', ['--version'])}`);
    console.log(`regsync:   ${peers ? await toolVersion('regsync', ['version']) : 'not run (BENCH_PEERS=0)'}`);
    console.log(`registry:  ${await toolVersion('docker-registry', ['--version'])} x ${registries.length} (1 staging + ${backends.length} production backends), loopback, filesystem storage`);
    console.log(`proxies:   ${hostsCount} production hosts (fault proxies, each its own port = host, over ${backends.length} backends) + 1 staging proxy;` +
      ` each ${latencyMs} ms latency per request, quota ${quotaPerS} requests/s per host (sliding 1 s window, 429 + Retry-After past it)`);
    console.log(`workload:  BENCH_SCALE=${scale}: ${shape.manifests} plain kpromo manifests (1 image each), ${shape.digests} digests, ${shape.tags} source tags,` +
      ` ${shape.destinationRepos} destination repositories on ${shape.registries} registries/hosts, ${shape.edges} edges (digest -> repository), ${shape.edgeTags} destination tags;` +
      ` tiny single-arch images (1 layer of 200 B + config)`);
    console.log(`new:       ${newShape.digests} new digests in ${newShape.manifests} images -> ${newShape.edges} new edges, ${newShape.edgeTags} new destination tags\n`);

    // --- seed staging directly (not through the proxy) ----------------------------------------
    let started = performance.now();
    const pushes: { name: string; d: WorkloadDigest }[] = [];
    for (const image of workload.images) for (const d of [...image.digests, ...(added.get(image.name) ?? [])]) pushes.push({ name: image.name, d });
    await limited(pushes, 16, async ({ name, d }) => { await pushImage(staging, `staging/${name}`, d.image, d.tags); });
    console.log(`seeded staging with ${pushes.length} images (old and new) in ${((performance.now() - started) / 1000).toFixed(1)} s`);

    const manifestsDir = join(tmp, 'manifests');
    writeManifests(manifestsDir, { staging: setup.stagingName, registries: setup.regionNames('region') }, workload.images);
    const runner = makeRunner(tmp, proxies);

    // --- seeding production: Hoist through the proxies, no latency or quota yet ----------------
    const initial = await runner.hoist('initial promotion (seeding, no quota)', ['promote', '--confirm', '--concurrency', String(promoteConcurrency), '-f', manifestsDir]);
    for (const p of proxies) {
      p.setLatency(latencyMs);
      p.setQuota({ limit: quotaPerS, windowMs: 1000 });
    }

    // --- 1. first plan, 2. steady state (plan, promote), 3. verification run ------------------
    const cache = join(tmp, 'inventory.json');
    const withCache = ['-f', manifestsDir, '--cache-file', cache];
    const plan = await runner.hoist('hoist plan (first: nothing cached)', ['plan', ...withCache]);
    const steadyPlan = await runner.hoist('hoist plan (steady state, cache)', ['plan', ...withCache]);
    const steadyPromote = await runner.hoist('hoist promote --confirm (steady state, cache)', ['promote', '--confirm', '--concurrency', String(promoteConcurrency), ...withCache]);
    const verification = await runner.hoist('hoist plan (verification: cache, --verify-interval 0s)', ['plan', ...withCache, '--verify-interval', '0s']);
    // What this machine's registries and proxies serve at most: the same reads with the quota and
    // latency off. When it is slower than the quota floor, no client can reach the floor here.
    for (const p of proxies) { p.setQuota(undefined); p.setLatency(0); }
    const harness = await runner.hoist('hoist plan (no quota, no latency: the test bed\'s own speed)', ['plan', ...withCache, '--verify-interval', '0s']);
    for (const p of proxies) { p.setLatency(latencyMs); p.setQuota({ limit: quotaPerS, windowMs: 1000 }); }
    const minimum = planMinimum(setup, workload.images);

    // --- 4. new digests: Hoist, skopeo sync and regsync over the same edges ---------------------
    const newDir = join(tmp, 'new-only');
    writeManifests(newDir, { staging: setup.stagingName, registries: setup.regionNames('fresh') }, newImages);
    const hoistNew = await runner.hoist('hoist promote --confirm (new digests, fresh repos)', ['promote', '--confirm', '--concurrency', String(promoteConcurrency), '-f', newDir]);
    const peerRuns = peers ? await runPeers(setup, runner, newImages) : [];
    const wrong = await checkNew(setup, newImages, peers);
    console.log(`verified ${newShape.edgeTags} new destination tags per tool: wrong or missing: ${wrong}`);

    // --- 5. signed: the new digests again, signed and attested, then their steady state -------
    const signed = await runSigned(setup, runner, newImages);

    printResults({ shape, newShape, minimum, plan, steadyPlan, steadyPromote, verification, harness, hoistNew, peerRuns, initial, signed, promoteMin: promoteMinimum(setup, newImages) });
    console.log(`\nbenchmark took ${((performance.now() - benchStarted) / 1000).toFixed(0)} s`);
  } finally {
    await Promise.all(proxies.map((p) => p.close()));
    await Promise.all(registries.map((r) => r.stop()));
    rmSync(tmp, { recursive: true, force: true });
    forgetSkopeoCache();
    if (!containersDirExisted) rmSync('/var/lib/containers', { recursive: true, force: true });
  }
}

function makeRunner(tmp: string, proxies: FaultProxy[]): Runner {
  const nodeOptions = process.env.BENCH_NODE_OPTIONS;
  const childEnv = nodeOptions ? { ...process.env, NODE_OPTIONS: nodeOptions } : process.env;
  const runner: Runner = {
    reset: () => { for (const p of proxies) { p.requests.splice(0); p.resetConnections(); } },
    collect: (label, t, report) => {
      const hosts = proxies.map(countsOf);
      return { label, wallS: t.wallS, rssKiB: t.rssKiB, hosts, totals: total(hosts), connections: Math.max(...proxies.map((p) => p.connections)), ...(report && { report }) };
    },
    hoist: async (label, args, okCodes = [0]) => {
      runner.reset();
      const out = join(tmp, `${label.replace(/\W+/g, '-')}.json`);
      const t = await timed(process.execPath, [hoistBin, ...args, '-o', 'json', '--quiet'], out, childEnv);
      if (!okCodes.includes(t.code)) {
        let said = '';
        try {
          const failed = JSON.parse(readFileSync(out, 'utf8')) as Report & { message?: string; reason?: string };
          said = `${failed.reason}: ${failed.message ?? ''} ${JSON.stringify(failed.phases.map((p) => [p.name, (p as { message?: string }).message]))}`;
        } catch { /* no report */ }
        throw new Error(`hoist ${args.join(' ')} exited ${t.code}: ${said}\n${t.stderr.slice(-3000)}`);
      }
      const report = JSON.parse(readFileSync(out, 'utf8')) as Report;
      const m = runner.collect(label, t, report);
      const planS = (report.phases.find((p) => p.name === 'Plan')?.durationMs ?? 0) / 1000;
      m.planS = planS;
      console.log(`${label}: ${t.wallS.toFixed(1)} s (Plan ${planS.toFixed(1)} s), ${m.totals.requests} requests (${m.totals.throttled} answered 429), ${report.outcome} ${JSON.stringify(report.summary)}`);
      return m;
    },
  };
  return runner;
}

/** skopeo sync and regsync promote the new digests into their own fresh repositories, one process per destination registry, a few at once. */
async function runPeers(setup: Setup, runner: Runner, newImages: WorkloadImage[]): Promise<Measured[]> {
  const yamlDir = join(setup.tmp, 'peers');
  mkdirSync(yamlDir, { recursive: true });
  const perDestination = setup.destProxies.map((proxy, k) => ({ k, proxy, images: newImages.filter((i) => i.digests.length > 0 && i.destinations.includes(k)) }))
    .filter((d) => d.images.length > 0);
  const results: Measured[] = [];

  forgetSkopeoCache();
  runner.reset();
  let started = performance.now();
  let rss = 0;
  let failures = 0;
  await limited(perDestination, skopeoParallel, async ({ k, proxy, images }) => {
    const lines = [`${setup.stagingProxy.host}:`, '  tls-verify: false', '  images:'];
    for (const i of images) lines.push(`    staging/${i.name}: [${i.digests.flatMap((d) => d.tags).map((t) => `"${t}"`).join(', ')}]`);
    const file = join(yamlDir, `skopeo-${k}.yaml`);
    writeFileSync(file, `${lines.join('\n')}\n`);
    const t = await timed(tool('skopeo'), [
      'sync', '--src', 'yaml', '--dest', 'docker', '--all', '--preserve-digests', '--retry-times', '5',
      '--src-tls-verify=false', '--dest-tls-verify=false', file, `${proxy.host}/skopeo${k}`,
    ], join(yamlDir, `skopeo-${k}.out`));
    rss = Math.max(rss, t.rssKiB);
    if (t.code !== 0) { failures += 1; console.log(`skopeo sync to ${proxy.host}/skopeo${k} exited ${t.code}: ${t.stderr.trim().split('\n').slice(-3).join(' | ')}`); }
  });
  results.push(runner.collect(`skopeo sync (new digests, fresh repos; ${skopeoParallel} processes at once)`, { wallS: (performance.now() - started) / 1000, rssKiB: rss }));
  console.log(`${results[0]!.label}: ${results[0]!.wallS.toFixed(1)} s, ${results[0]!.totals.requests} requests, ${failures} processes failed`);

  runner.reset();
  started = performance.now();
  rss = 0;
  failures = 0;
  await limited(perDestination, skopeoParallel, async ({ k, proxy, images }) => {
    const lines = ['version: 1', 'creds:', `  - registry: ${setup.stagingProxy.host}`, '    tls: disabled', `  - registry: ${proxy.host}`, '    tls: disabled',
      'defaults:', '  parallel: 4', 'sync:'];
    for (const i of images) {
      lines.push(`  - source: ${setup.stagingProxy.host}/staging/${i.name}`, `    target: ${proxy.host}/regsync${k}/${i.name}`, '    type: repository', '    tags:', '      allow:', '      - "v2\\\\..*"');
    }
    const file = join(yamlDir, `regsync-${k}.yaml`);
    writeFileSync(file, `${lines.join('\n')}\n`);
    const t = await timed(tool('regsync'), ['once', '-c', file, '-v', 'warn'], join(yamlDir, `regsync-${k}.out`));
    rss = Math.max(rss, t.rssKiB);
    if (t.code !== 0) { failures += 1; console.log(`regsync to ${proxy.host}/regsync${k} exited ${t.code}: ${t.stderr.trim().split('\n').slice(-3).join(' | ')}`); }
  });
  results.push(runner.collect(`regsync once (new digests, fresh repos; ${skopeoParallel} processes at once)`, { wallS: (performance.now() - started) / 1000, rssKiB: rss }));
  console.log(`${results[1]!.label}: ${results[1]!.wallS.toFixed(1)} s, ${results[1]!.totals.requests} requests, ${failures} processes failed`);
  return results;
}

/** Every new edge must be there, digest for digest, for each tool (checked on the backends, not through the proxies). */
async function checkNew(setup: Setup, newImages: WorkloadImage[], withPeers: boolean): Promise<string> {
  const check = async (repoOf: (k: number, name: string) => string): Promise<number> => {
    let wrong = 0;
    const items: { url: string; digest: string }[] = [];
    for (const image of newImages) for (const k of image.destinations) for (const d of image.digests) for (const tag of d.tags) {
      items.push({ url: `${setup.backends[k % setup.backends.length]!.url}/v2/${repoOf(k, image.name)}/manifests/${tag}`, digest: d.digest });
    }
    await limited(items, 32, async ({ url, digest }) => {
      const res = await fetch(url, { method: 'HEAD', headers: { accept } });
      if (res.headers.get('docker-content-digest') !== digest) wrong += 1;
    });
    return wrong;
  };
  const parts = [`hoist ${await check((k, n) => `fresh${k}/${n}`)}`];
  if (withPeers) {
    parts.push(`skopeo ${Math.min(await check((k, n) => `skopeo${k}/staging/${n}`), await check((k, n) => `skopeo${k}/${n}`))}`);
    parts.push(`regsync ${await check((k, n) => `regsync${k}/${n}`)}`);
  }
  return parts.join(', ');
}

/** The new digests promoted again into `signed<k>` repositories with a key (signatures and attestations, both formats), then the same run again. */
async function runSigned(setup: Setup, runner: Runner, newImages: WorkloadImage[]): Promise<{ first: Measured; rerun: Measured; lists: number }> {
  const dir = join(setup.tmp, 'signed');
  writeManifests(dir, { staging: setup.stagingName, registries: setup.regionNames('signed') }, newImages);
  process.env.COSIGN_PASSWORD = 'bench';
  await runTool('cosign', ['generate-key-pair', '--output-key-prefix', join(setup.tmp, 'bench')]);
  const cache = join(setup.tmp, 'signed-inventory.json');
  const args = ['promote', '--confirm', '--concurrency', String(promoteConcurrency), '-f', dir, '--key', join(setup.tmp, 'bench.key'), '--cache-file', cache];
  const first = await runner.hoist('hoist promote --confirm --key (new digests, signed)', args);
  const rerun = await runner.hoist('hoist promote --confirm --key (signed, steady state, cache)', args);
  const lists = newImages.reduce((n, i) => n + (i.digests.length > 0 ? i.destinations.length : 0), 0);
  return { first, rerun, lists };
}

interface Results {
  shape: ReturnType<typeof shapeOf>;
  newShape: ReturnType<typeof shapeOf>;
  minimum: ReturnType<typeof planMinimum>;
  plan: Measured;
  steadyPlan: Measured;
  steadyPromote: Measured;
  verification: Measured;
  harness: Measured;
  hoistNew: Measured;
  peerRuns: Measured[];
  initial: Measured;
  signed: Awaited<ReturnType<typeof runSigned>>;
  promoteMin: ReturnType<typeof promoteMinimum>;
}

function printResults(r: Results): void {
  const kib = (n: number) => `${(n / 1024).toFixed(0)} MiB`;
  const sum = (m: Map<string, number>) => [...m.values()].reduce((a, b) => a + b, 0);
  const planMin = sum(r.minimum.byHost);
  const lists = sum(r.minimum.lists);
  const floorS = Math.max(...r.minimum.byHost.values()) / quotaPerS;
  const listFloorS = Math.max(...r.minimum.lists.values()) / quotaPerS;
  console.log(`\n## Plan and steady state (${r.shape.edges} edges, ${r.shape.edgeTags} destination tags, all present)\n`);
  console.log(`minimum: ${planMin} requests for a plan that reads every tag (${lists} tag lists + ${planMin - lists} tag HEADs; staging need not be read);` +
    ` busiest host ${Math.max(...r.minimum.byHost.values())} -> quota floor ${floorS.toFixed(2)} s; the tag lists alone: ${lists} requests, floor ${listFloorS.toFixed(2)} s\n`);
  console.log(table(
    ['run', 'wall', 'Plan phase', 'floor', 'wall / floor', 'Plan / floor', 'requests', 'vs minimum', '429s', 'writes', 'by method', 'connections/host (max)', 'peak RSS'],
    ([[r.plan, planMin, floorS], [r.steadyPlan, lists, listFloorS], [r.steadyPromote, lists, listFloorS], [r.verification, planMin, floorS], [r.harness, planMin, floorS]] as const).map(([m, min, floor]) => [
      m.label, `${m.wallS.toFixed(1)} s`, `${(m.planS ?? 0).toFixed(2)} s`, `${floor.toFixed(2)} s`, `${(m.wallS / floor).toFixed(2)}x`, `${((m.planS ?? 0) / floor).toFixed(2)}x`,
      String(m.totals.requests), `${(m.totals.admitted / min).toFixed(3)}x`, String(m.totals.throttled), String(m.totals.writes), methods(m.totals.byMethod),
      String(m.connections ?? '-'), kib(m.rssKiB),
    ]),
  ));
  console.log(`\n## New digests: ${r.newShape.digests} digests, ${r.newShape.edges} edges, ${r.newShape.edgeTags} destination tags (side by side, one run)\n`);
  console.log(`minimum: ${r.promoteMin.total} requests (tag lists, 4 per digest at staging, POST+PUT per blob per edge, a PUT per tag); busiest host ${r.promoteMin.busiest} -> floor ${(r.promoteMin.busiest / quotaPerS).toFixed(1)} s\n`);
  console.log(table(
    ['run', 'wall', 'requests', 'vs minimum', '429s', 'writes', 'by method', 'to staging', 'wall / floor', 'peak RSS'],
    [r.hoistNew, ...r.peerRuns].map((m) => [
      m.label, `${m.wallS.toFixed(1)} s`, String(m.totals.requests), `${(m.totals.admitted / r.promoteMin.total).toFixed(2)}x`, String(m.totals.throttled), String(m.totals.writes),
      methods(m.totals.byMethod), String(m.hosts[0]?.requests ?? 0), `${(m.wallS / (r.promoteMin.busiest / quotaPerS)).toFixed(1)}x`, kib(m.rssKiB) + (m === r.hoistNew ? '' : ' (largest process)'),
    ]),
  ));
  const s = r.signed;
  console.log(`\n## Signed (issue 18): the new digests signed and attested with a key, then the same run again\n`);
  console.log(table(
    ['run', 'wall', 'requests', 'writes', 'by method', 'tag lists (minimum)', 'peak RSS'],
    [s.first, s.rerun].map((m) => [m.label, `${m.wallS.toFixed(1)} s`, String(m.totals.requests), String(m.totals.writes), methods(m.totals.byMethod), String(s.lists), kib(m.rssKiB)]),
  ));
  console.log(`\ninitial promotion (seeding production through the proxies without latency or quota, --concurrency ${promoteConcurrency}): ${r.initial.wallS.toFixed(1)} s, ${r.initial.totals.requests} requests, peak RSS ${kib(r.initial.rssKiB)}`);
}

if (process.env.BENCH_MODE === 'k8s') await (await import('./promote-k8s.ts')).k8sBenchmark();
else await main();
