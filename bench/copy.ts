// Copy benchmark: the same generated images copied staging -> production by Hoist's
// ImageCopier, skopeo and crane, between two real docker-registry instances on loopback.
// Timed rounds go straight to the registries, so nothing else competes for the CPU; a separate
// pass sends every tool through a counting proxy for requests and bytes, then copies again into
// the same destination to show what each tool does when the image is already there.
//
//   npm run bench:copy            (BENCH_ROUNDS=5 for more rounds)
import { execFile } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { promisify } from 'node:util';
import { ImageCopier, RegistryClient, type RegistryClientOptions } from '../src/registry/index.ts';
import { buildImage, buildIndex, pushImage, type BuiltImage } from '../test/support/images.ts';
import { startRegistries, type TestRegistry } from '../test/support/registry.ts';
import { tool } from '../test/support/testbed.ts';
import { startCountingProxy, type CountingProxy, type ProxyCounts } from './support/counting-proxy.ts';
import { toolVersion } from './support/measure.ts';

const execFileAsync = promisify(execFile);
const MiB = 1024 * 1024;
const rounds = Number(process.env.BENCH_ROUNDS ?? 5);
// 'hoist-unlimited' is Hoist with its per-host rate limit raised out of the way: the defaults
// (200 requests/s, burst 100) are meant for shared production registries and are what a
// default client is held to here, so the two rows together show what that limit costs.
const tools = ['hoist', 'hoist-unlimited', 'skopeo', 'crane'] as const;
type Tool = (typeof tools)[number];
const unlimited = { rate: 10_000, burst: 1_000 };

interface StagedImage { name: string; digest: string; tag: string }
interface Job { src: string; dst: string; prefix: string; images: StagedImage[] }
interface Run { ms: number; clientBytes?: number; clientRequests?: number; limiterWaitMs?: number }

// skopeo remembers where it has seen each blob and would mount from an earlier round's
// repository instead of copying, so every first copy starts without that memory. It has no flag
// to move the cache, hence deleting it (as root it lives here).
const skopeoCacheDir = '/var/lib/containers/cache';
const containersDirExisted = existsSync('/var/lib/containers');
function forgetSkopeoCache(): void {
  for (const file of ['blob-info-cache-v1.boltdb', 'blob-info-cache-v1.sqlite']) rmSync(`${skopeoCacheDir}/${file}`, { force: true });
}

async function runHoist(job: Job, options: RegistryClientOptions = {}): Promise<Run> {
  const client = new RegistryClient(options);
  const copier = new ImageCopier(client);
  const started = performance.now();
  try {
    const results = await Promise.all(job.images.map((image) => copier.copy({
      src: { host: job.src, name: image.name }, dst: { host: job.dst, name: `${job.prefix}/${image.name}` },
      digest: image.digest, tags: [image.tag],
    })));
    const conflict = results.find((r) => r.tagConflicts.length > 0);
    if (conflict) throw new Error(`hoist left tags alone: ${JSON.stringify(conflict.tagConflicts)}`);
  } finally {
    await client.close();
  }
  const ms = performance.now() - started;
  const { stats } = client;
  return { ms, clientBytes: stats.bytesRead + stats.bytesWritten, clientRequests: stats.count(), limiterWaitMs: stats.limiterWaitMs };
}

// The peers copy one image per process; running the processes at once gives them the same
// image-level parallelism Hoist gets from Promise.all.
async function runPeer(name: 'skopeo' | 'crane', job: Job): Promise<Run> {
  const started = performance.now();
  await Promise.all(job.images.map((image) => {
    const from = `${job.src}/${image.name}@${image.digest}`;
    const to = `${job.dst}/${job.prefix}/${image.name}:${image.tag}`;
    return name === 'skopeo'
      ? execFileAsync(tool('skopeo'), ['copy', '--quiet', '--all', '--preserve-digests', '--src-tls-verify=false', '--dest-tls-verify=false', `docker://${from}`, `docker://${to}`])
      : execFileAsync(tool('crane'), ['copy', '--insecure', from, to]);
  }));
  return { ms: performance.now() - started };
}

function run(name: Tool, job: Job): Promise<Run> {
  if (name === 'hoist') return runHoist(job);
  if (name === 'hoist-unlimited') return runHoist(job, { rateLimit: unlimited });
  return runPeer(name, job);
}

const accept = [
  'application/vnd.oci.image.index.v1+json', 'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json', 'application/vnd.docker.distribution.manifest.v2+json',
].join(', ');

/** Every tool must leave the same digests under the same tags, or its time means nothing. */
async function verify(registry: TestRegistry, job: Job, who: string): Promise<void> {
  for (const image of job.images) {
    const res = await fetch(`${registry.url}/v2/${job.prefix}/${image.name}/manifests/${image.tag}`, { method: 'HEAD', headers: { accept } });
    const digest = res.headers.get('docker-content-digest');
    if (digest !== image.digest) throw new Error(`${who}: ${job.prefix}/${image.name}:${image.tag} is ${digest ?? res.status}, expected ${image.digest}`);
  }
}

function contentBytes(image: BuiltImage, seen = new Set<string>()): number {
  let total = seen.has(image.digest) ? 0 : image.bytes.length;
  seen.add(image.digest);
  for (const blob of image.blobs) {
    if (!seen.has(blob.digest)) total += blob.size;
    seen.add(blob.digest);
  }
  for (const child of image.children) total += contentBytes(child, seen);
  return total;
}


function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join(' | ')} |`;
  return [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)].join('\n');
}

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};
const mb = (bytes: number) => (bytes / MiB).toFixed(1);
const secs = (ms: number) => (ms / 1000).toFixed(2);
const methods = (c: ProxyCounts) => Object.entries(c.byMethod).sort(([a], [b]) => a.localeCompare(b)).map(([m, n]) => `${m} ${n}`).join(', ');

function sum(a: ProxyCounts, b: ProxyCounts): ProxyCounts {
  const byMethod = { ...a.byMethod };
  for (const [m, n] of Object.entries(b.byMethod)) byMethod[m] = (byMethod[m] ?? 0) + n;
  return { requests: a.requests + b.requests, byMethod, bytesUp: a.bytesUp + b.bytesUp, bytesDown: a.bytesDown + b.bytesDown, nonHttp: a.nonHttp + b.nonHttp };
}

async function main(): Promise<void> {
  const [staging, production] = await startRegistries(2);
  if (!staging || !production) throw new Error('registries did not start');
  const proxies: CountingProxy[] = [];
  try {
    // Random layers compress to nothing, so bytes moved are the bytes generated.
    const images: { name: string; image: BuiltImage }[] = [
      ...[0, 1, 2].map((i) => ({ name: `bench/app-${i}`, image: buildImage({ layers: [8, 4, 2, 1].map((n) => n * MiB) }) })),
      { name: 'bench/multi', image: buildIndex({ layers: [4, 2, 1].map((n) => n * MiB) }) },
    ];
    const staged: StagedImage[] = [];
    for (const { name, image } of images) staged.push({ name, digest: await pushImage(staging, name, image, ['v1']), tag: 'v1' });
    const seen = new Set<string>();
    const total = images.reduce((n, { image }) => n + contentBytes(image, seen), 0);
    const blobs = seen.size;

    const cpu = cpus();
    console.log('# Hoist copy benchmark\n');
    console.log(`machine:  ${cpu.length} cores (${cpu[0]?.model.trim() ?? '?'}), ${(totalmem() / 1024 ** 3).toFixed(0)} GiB RAM, ${process.platform}/${process.arch}`);
    console.log(`node:     ${process.version}`);
    console.log(`skopeo:   ${await toolVersion('skopeo', ['--version'])}`);
    console.log(`crane:    ${await toolVersion('crane', ['version'])}`);
    console.log(`registry: ${await toolVersion('docker-registry', ['--version'])} (two instances on loopback, filesystem storage)`);
    console.log(`workload: ${staged.length} images (3 single-arch x 4 layers of 8/4/2/1 MiB, 1 index of 3 platforms x 3 layers of 4/2/1 MiB), ` +
      `${blobs} manifests+blobs, ${mb(total)} MiB; each tool copies all images at once into fresh repositories; ${rounds} rounds\n`);

    const times: Record<Tool, Run[]> = { hoist: [], 'hoist-unlimited': [], skopeo: [], crane: [] };
    for (let round = 0; round < rounds; round++) {
      // Rotating the order spreads page-cache and disk effects over all tools.
      const order = tools.map((_, i) => tools[(i + round) % tools.length]!);
      for (const name of order) {
        const job: Job = { src: staging.host, dst: production.host, prefix: `t${round}-${name}`, images: staged };
        if (name === 'skopeo') forgetSkopeoCache();
        const result = await run(name, job);
        await verify(production, job, name);
        times[name].push(result);
        console.log(`round ${round + 1}: ${name.padEnd(15)} ${secs(result.ms)} s`);
      }
    }

    // The counting pass: same work again through proxies, then a copy of what is already there.
    const [srcProxy, dstProxy] = await Promise.all([startCountingProxy(staging.host), startCountingProxy(production.host)]);
    proxies.push(srcProxy, dstProxy);
    const counted: Record<Tool, { first: ProxyCounts; again: ProxyCounts; againMs: number; hoistBytes?: number }> = {} as never;
    for (const name of tools) {
      const job: Job = { src: srcProxy.host, dst: dstProxy.host, prefix: `c-${name}`, images: staged };
      if (name === 'skopeo') forgetSkopeoCache();
      srcProxy.reset(); dstProxy.reset();
      const first = await run(name, job);
      await verify(production, { ...job, src: staging.host, dst: production.host }, name);
      const firstCounts = sum(srcProxy.counts, dstProxy.counts);
      // skopeo keeps its cache here, as it would between two real promotions.
      srcProxy.reset(); dstProxy.reset();
      const again = await run(name, job);
      counted[name] = { first: firstCounts, again: sum(srcProxy.counts, dstProxy.counts), againMs: again.ms, ...(first.clientBytes !== undefined && { hoistBytes: first.clientBytes }) };
    }

    console.log(`\n## First copy (${mb(total)} MiB into empty repositories)\n`);
    console.log(table(
      ['tool', 'median wall', 'rounds', 'MiB/s', 'body bytes via proxy', 'requests', 'by method'],
      tools.map((name) => {
        const ms = median(times[name].map((r) => r.ms));
        const c = counted[name].first;
        return [
          name, `${secs(ms)} s`, times[name].map((r) => secs(r.ms)).join(' / '), (total / MiB / (ms / 1000)).toFixed(1),
          `${mb(c.bytesDown)} down + ${mb(c.bytesUp)} up MiB`, String(c.requests), methods(c),
        ];
      }),
    ));
    console.log('');
    for (const name of ['hoist', 'hoist-unlimited'] as const) {
      const last = times[name].at(-1);
      if (last?.clientBytes === undefined) continue;
      console.log(`${name} own counters (client.stats, last timed round): ${mb(last.clientBytes)} MiB bytesRead+bytesWritten, ` +
        `${last.clientRequests} requests, ${secs(last.limiterWaitMs ?? 0)} s spent waiting for the rate limiter (summed over requests).`);
    }
    const tlsProbes = tools.filter((n) => counted[n].first.nonHttp > 0).map((n) => `${n} ${counted[n].first.nonHttp}`);
    if (tlsProbes.length > 0) console.log(`Connections that were not HTTP (TLS tried first on an insecure registry), not counted as requests: ${tlsProbes.join(', ')}.`);

    console.log('\n## Second copy into the same destination (everything already there)\n');
    console.log(table(
      ['tool', 'wall', 'requests', 'by method', 'body bytes via proxy'],
      tools.map((name) => {
        const c = counted[name].again;
        return [name, `${secs(counted[name].againMs)} s`, String(c.requests), methods(c), `${(c.bytesDown / 1024).toFixed(1)} KiB down + ${(c.bytesUp / 1024).toFixed(1)} KiB up`];
      }),
    ));
  } finally {
    await Promise.all(proxies.map((p) => p.close()));
    await Promise.all([staging.stop(), production.stop()]);
    forgetSkopeoCache();
    // skopeo creates the directory on first use; leave the machine as it was.
    if (!containersDirExisted) rmSync('/var/lib/containers', { recursive: true, force: true });
  }
}

await main();
