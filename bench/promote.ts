// Promotion benchmark: a k8s.io-shaped workload (100 kpromo manifests, thousands of digests, up
// to 22 destination registries each) promoted by `hoist` through latency and rate-limit proxies,
// one proxy per registry host. Measures `hoist plan` and a steady-state `hoist promote --confirm`
// against the minimum number of requests the workload allows, then the promotion of a few hundred
// new digests by Hoist and by `skopeo sync` over the same edges.
//
//   npm run bench:promote          (BENCH_SCALE=2 for twice the digests; see docs/benchmarks.md)
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, totalmem, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startFaultProxy, type FaultProxy } from '../test/support/fault-proxy.ts';
import { pushImage } from '../test/support/images.ts';
import { startRegistry, type TestRegistry } from '../test/support/registry.ts';
import { tool } from '../test/support/testbed.ts';
import { countsOf, limited, methods, table, timed, toolVersion, total, type HostCounts, type Timed, type Totals } from './support/measure.ts';
import { addDigests, generateWorkload, shapeOf, writeManifests, type WorkloadDigest, type WorkloadImage } from './support/workload.ts';

const execFileAsync = promisify(execFile);
const env = (name: string, fallback: number) => Number(process.env[name] ?? fallback);
// Defaults sized for a run of about 5 minutes on 2 cores; BENCH_SCALE=1 is ~1,700 digests and
// ~20,000 edges (the k8s.io shape at full size) and takes far longer under a 100/s quota.
const scale = env('BENCH_SCALE', 0.1);
const latencyMs = env('BENCH_LATENCY_MS', 20);
const quotaPerS = env('BENCH_QUOTA', 100);
const newDigests = Math.max(1, env('BENCH_NEW_DIGESTS', 60));
// The new digests added to the full manifests as well (the realistic promotion): opt-in, it
// costs minutes (see docs/benchmarks.md).
const fullRun = process.env.BENCH_FULL === '1';
const hostsCount = 22;
const backendsCount = env('BENCH_BACKENDS', 3);
const promoteConcurrency = env('BENCH_CONCURRENCY', 32);
const skopeoParallel = env('BENCH_SKOPEO_PARALLEL', 6);
const hoistBin = new URL('../bin/hoist.js', import.meta.url).pathname;

// skopeo keeps a blob-info cache and would mount blobs it saw in another repository; each of
// its runs starts without it (as bench/copy.ts does). As root it lives here.
const skopeoCacheDir = '/var/lib/containers/cache';
const containersDirExisted = existsSync('/var/lib/containers');
function forgetSkopeoCache(): void {
  for (const file of ['blob-info-cache-v1.boltdb', 'blob-info-cache-v1.sqlite']) rmSync(`${skopeoCacheDir}/${file}`, { force: true });
}

interface Measured { label: string; wallS: number; rssKiB: number; hosts: HostCounts[]; totals: Totals; report?: Report }
interface Report { outcome: string; summary: Record<string, number> }

const accept = 'application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json';


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
    const backendOf = (k: number) => backends[k % backends.length]!;
    const regionNames = (prefix: string) => destProxies.map((p, k) => `${p.host}/${prefix}${k}`);
    const stagingName = `${stagingProxy.host}/staging`;

    // --- workload ---------------------------------------------------------------------------
    const workload = generateWorkload({ manifests: 100, scale, registries: hostsCount, minDestinations: 3, seed: 20261125 });
    const added = addDigests(workload, newDigests, 7);
    const shape = shapeOf(workload.images);
    const newImages: WorkloadImage[] = workload.images.map((i) => ({ ...i, digests: added.get(i.name) ?? [] }));
    const newShape = shapeOf(newImages);

    const cpu = cpus();
    console.log('# Hoist promotion benchmark\n');
    console.log(`machine:   ${cpu.length} cores (${cpu[0]?.model.trim() ?? '?'}), ${(totalmem() / 1024 ** 3).toFixed(0)} GiB RAM, ${process.platform}/${process.arch}; registries, proxies, hoist and skopeo share them`);
    console.log(`node:      ${process.version}`);
    console.log(`skopeo:    ${await toolVersion('skopeo', ['--version'])}`);
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
    writeManifests(manifestsDir, { staging: stagingName, registries: regionNames('region') }, workload.images);
    for (const p of proxies) {
      p.setLatency(latencyMs);
      p.setQuota({ limit: quotaPerS, windowMs: 1000 });
    }

    const reset = () => { for (const p of proxies) p.requests.splice(0); };
    const collect = (label: string, t: Pick<Timed, 'wallS' | 'rssKiB'>, report?: Report): Measured => {
      const hosts = proxies.map(countsOf);
      return { label, wallS: t.wallS, rssKiB: t.rssKiB, hosts, totals: total(hosts), ...(report && { report }) };
    };
    const hoist = async (label: string, args: string[], okCodes = [0]): Promise<Measured> => {
      reset();
      const out = join(tmp, `${label.replace(/\W+/g, '-')}.json`);
      const t = await timed(process.execPath, [hoistBin, ...args, '-o', 'json', '--quiet'], out);
      if (!okCodes.includes(t.code)) throw new Error(`hoist ${args.join(' ')} exited ${t.code}:\n${t.stderr.slice(-3000)}`);
      const report = JSON.parse(readFileSync(out, 'utf8')) as Report;
      const m = collect(label, t, report);
      console.log(`${label}: ${t.wallS.toFixed(1)} s, ${m.totals.requests} requests (${m.totals.throttled} answered 429), ${report.outcome} ${JSON.stringify(report.summary)}`);
      return m;
    };

    // --- initial promotion: seeds production -------------------------------------------------
    const initial = await hoist('initial promotion', ['promote', '--confirm', '--concurrency', String(promoteConcurrency), '-f', manifestsDir]);

    // --- 1. plan, 2. steady-state rerun ------------------------------------------------------
    const plan = await hoist('hoist plan (steady state)', ['plan', '-f', manifestsDir]);
    const rerun = await hoist('hoist promote --confirm (steady state)', ['promote', '--confirm', '--concurrency', String(promoteConcurrency), '-f', manifestsDir]);

    // The minimum a plan of this workload needs: one HEAD per distinct source digest, one tag
    // listing per destination repository (distribution 2.8 does not paginate), one HEAD per
    // destination tag that exists (all of them, in the steady state).
    const minimumByHost = new Map<string, number>([[stagingProxy.host, shape.digests]]);
    for (const image of workload.images) {
      const tags = image.digests.reduce((n, d) => n + d.tags.length, 0);
      for (const k of image.destinations) {
        const host = destProxies[k]!.host;
        minimumByHost.set(host, (minimumByHost.get(host) ?? 0) + 1 + tags);
      }
    }
    const minimum = [...minimumByHost.values()].reduce((a, b) => a + b, 0);
    const minimumFloorS = Math.max(...minimumByHost.values()) / quotaPerS;

    // --- 3. new digests: Hoist and skopeo sync over the same edges ----------------------------
    // Each tool gets fresh repositories: Hoist `<host>/fresh<k>/<image>` from manifests that hold
    // only the new digests, skopeo `<host>/skopeo<k>/...`. Then Hoist again the realistic way:
    // the new digests added to the full manifests, promoted into the existing region repositories.
    const newDir = join(tmp, 'new-only');
    writeManifests(newDir, { staging: stagingName, registries: regionNames('fresh') }, newImages);
    const hoistNew = await hoist('hoist promote --confirm (new digests only, fresh repos)', ['promote', '--confirm', '--concurrency', String(promoteConcurrency), '-f', newDir]);

    // skopeo sync: one YAML and one process per destination registry, `skopeoParallel` at once.
    const yamlDir = join(tmp, 'skopeo');
    const perDestination = destProxies.map((proxy, k) => {
      const images = newImages.filter((i) => i.digests.length > 0 && i.destinations.includes(k));
      const lines = [`${stagingProxy.host}:`, '  tls-verify: false', '  images:'];
      for (const i of images) lines.push(`    staging/${i.name}: [${i.digests.flatMap((d) => d.tags).map((t) => `"${t}"`).join(', ')}]`);
      return { k, proxy, images, yaml: `${lines.join('\n')}\n` };
    }).filter((d) => d.images.length > 0);
    rmSync(yamlDir, { recursive: true, force: true });
    await execFileAsync('mkdir', ['-p', yamlDir]);
    forgetSkopeoCache();
    reset();
    started = performance.now();
    let skopeoRss = 0;
    let skopeoFailures = 0;
    await limited(perDestination, skopeoParallel, async ({ k, proxy, yaml }) => {
      const file = join(yamlDir, `dest-${k}.yaml`);
      writeFileSync(file, yaml);
      const t = await timed(tool('skopeo'), [
        'sync', '--src', 'yaml', '--dest', 'docker', '--all', '--preserve-digests', '--retry-times', '5',
        '--src-tls-verify=false', '--dest-tls-verify=false', file, `${proxy.host}/skopeo${k}`,
      ], join(yamlDir, `dest-${k}.out`));
      skopeoRss = Math.max(skopeoRss, t.rssKiB);
      if (t.code !== 0) {
        skopeoFailures += 1;
        console.log(`skopeo sync to ${proxy.host}/skopeo${k} exited ${t.code}: ${t.stderr.trim().split('\n').slice(-3).join(' | ')}`);
      }
    });
    const skopeo = collect('skopeo sync (new digests, fresh repos)', { wallS: (performance.now() - started) / 1000, rssKiB: skopeoRss });
    console.log(`${skopeo.label}: ${skopeo.wallS.toFixed(1)} s, ${skopeo.totals.requests} requests (${skopeo.totals.throttled} answered 429), ${skopeoFailures} processes failed`);

    let hoistFull: Measured | undefined;
    if (fullRun) {
      writeManifests(manifestsDir, { staging: stagingName, registries: regionNames('region') },
        workload.images.map((i) => ({ ...i, digests: [...i.digests, ...(added.get(i.name) ?? [])] })));
      hoistFull = await hoist('hoist promote --confirm (new digests in the full manifests)', ['promote', '--confirm', '--concurrency', String(promoteConcurrency), '-f', manifestsDir]);
    }

    // Every new edge must be there, digest for digest, for each tool (checked on the backends).
    const check = async (prefix: string, skopeoLayout: boolean): Promise<number> => {
      let wrong = 0;
      const items: { url: string; digest: string }[] = [];
      for (const image of newImages) for (const k of image.destinations) for (const d of image.digests) for (const tag of d.tags) {
        const repo = skopeoLayout ? `${prefix}${k}/staging/${image.name}` : `${prefix}${k}/${image.name}`;
        items.push({ url: `${backendOf(k).url}/v2/${repo}/manifests/${tag}`, digest: d.digest });
      }
      await limited(items, 32, async ({ url, digest }) => {
        const res = await fetch(url, { method: 'HEAD', headers: { accept } });
        if (res.headers.get('docker-content-digest') !== digest) wrong += 1;
      });
      return wrong;
    };
    let skopeoWrong = await check('skopeo', true);
    let skopeoLayout = 'skopeo<k>/staging/<image>';
    if (skopeoWrong > 0) {
      const flat = await check('skopeo', false);
      if (flat < skopeoWrong) { skopeoWrong = flat; skopeoLayout = 'skopeo<k>/<image>'; }
    }
    const fresh = await check('fresh', false);
    const region = hoistFull ? `, hoist region ${await check('region', false)}` : '';
    console.log(`verified ${newShape.edgeTags} new destination tags per tool: wrong or missing: hoist fresh ${fresh}${region}, skopeo ${skopeoWrong} (skopeo wrote ${skopeoLayout})`);

    // --- report -------------------------------------------------------------------------------
    const floor = (m: Measured) => Math.max(...m.hosts.map((h) => h.admitted)) / quotaPerS;
    const kib = (n: number) => `${(n / 1024).toFixed(0)} MiB`;
    console.log(`\n## Plan and steady state (${shape.edges} edges, ${shape.edgeTags} destination tags, all present)\n`);
    console.log(`minimum requests for this workload: ${minimum} = ${shape.digests} source HEADs + ${shape.destinationRepos} tag listings + ${shape.edgeTags} tag HEADs;` +
      ` the busiest host needs ${Math.max(...minimumByHost.values())}, so the quota alone allows no less than ${minimumFloorS.toFixed(1)} s\n`);
    console.log(table(
      ['run', 'wall', 'requests', 'vs minimum', '429s', 'writes', 'by method', 'quota floor (busiest host)', 'wall / floor', 'peak RSS'],
      [plan, rerun].map((m) => [
        m.label, `${m.wallS.toFixed(1)} s`, String(m.totals.requests), `${(m.totals.admitted / minimum).toFixed(2)}x`, String(m.totals.throttled),
        String(m.totals.writes), methods(m.totals.byMethod), `${floor(m).toFixed(1)} s`, `${(m.wallS / floor(m)).toFixed(1)}x`, kib(m.rssKiB),
      ]),
    ));
    console.log(`\nsteady-state rerun wrote ${rerun.totals.writes} times (PUT/POST/PATCH/DELETE admitted by the proxies).`);

    console.log(`\n## New digests: ${newShape.digests} digests, ${newShape.edges} edges, ${newShape.edgeTags} destination tags\n`);
    console.log(table(
      ['run', 'wall', 'requests', '429s', 'writes', 'by method', 'to staging', 'quota floor (busiest host)', 'peak RSS'],
      [hoistNew, skopeo, ...(hoistFull ? [hoistFull] : [])].map((m) => [
        m.label, `${m.wallS.toFixed(1)} s`, String(m.totals.requests), String(m.totals.throttled), String(m.totals.writes), methods(m.totals.byMethod),
        String(m.hosts[0]?.requests ?? 0), `${floor(m).toFixed(1)} s`, kib(m.rssKiB) + (m === skopeo ? ' (largest process)' : ''),
      ]),
    ));
    console.log(`\ninitial promotion (seeding production, --concurrency ${promoteConcurrency}): ${initial.wallS.toFixed(1)} s, ${initial.totals.requests} requests` +
      ` (${initial.totals.throttled} answered 429; ${initial.hosts[0]?.requests ?? 0} to staging), ${methods(initial.totals.byMethod)}, peak RSS ${kib(initial.rssKiB)}`);
    console.log(`skopeo: ${perDestination.length} processes (one per destination registry), ${skopeoParallel} at once, --retry-times 5`);
    console.log(`\nbenchmark took ${((performance.now() - benchStarted) / 1000).toFixed(0)} s`);
  } finally {
    await Promise.all(proxies.map((p) => p.close()));
    await Promise.all(registries.map((r) => r.stop()));
    rmSync(tmp, { recursive: true, force: true });
    forgetSkopeoCache();
    if (!containersDirExisted) rmSync('/var/lib/containers', { recursive: true, force: true });
  }
}

if (process.env.BENCH_MODE === 'k8s') await (await import('./promote-k8s.ts')).k8sBenchmark();
else await main();
