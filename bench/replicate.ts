// Signature replication benchmark: a k8s.io-shaped tree (registry.k8s.io's projects, ~17,000
// digests at BENCH_SCALE=1, one canonical primary and 22 mirrors, ~57% of digests unsigned, a
// share of mirror signatures missing) replicated by `hoist replicate` through latency and quota
// proxies, one per registry host, as bench/promote.ts sets them up. Measures requests against
// the minimum the tree allows (tag listings + reads of what is missing + writes), wall time
// against the quota floor, and memory; then the same repair by regsync (regclient), whose
// repository sync with referrers and digest tags does the same job.
//
//   npm run bench:replicate     (BENCH_SCALE=1 for k8s.io's full size; see docs/replication.md)
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { startFaultProxy, type FaultProxy } from '../test/support/fault-proxy.ts';
import { startRegistry, type TestRegistry } from '../test/support/registry.ts';
import { tool } from '../test/support/testbed.ts';
import { countsOf, limited, methods, table, timed, toolVersion, total, type HostCounts, type Totals } from './support/measure.ts';
import { buildSignedTree, shapeOf, writeThinManifests, type SignedTree, type Stored, type TreeImage } from './support/signed-tree.ts';

const env = (name: string, fallback: number) => Number(process.env[name] ?? fallback);
// Defaults sized for a run of a few minutes on 2 cores; BENCH_SCALE=1 is k8s.io's ~17,000 digests.
const scale = env('BENCH_SCALE', 0.01);
const latencyMs = env('BENCH_LATENCY_MS', 20);
const quotaPerS = env('BENCH_QUOTA', 100);
const missingShare = env('BENCH_MISSING', 0.05);
const backendsCount = env('BENCH_BACKENDS', 3);
const hoistConcurrency = env('BENCH_CONCURRENCY', 16);
const regsyncParallel = env('BENCH_REGSYNC_PARALLEL', 16);
const withRegsync = process.env.BENCH_REGSYNC !== '0';
const registries = 23;
const hoistBin = new URL('../bin/hoist.js', import.meta.url).pathname;
// Registry storage in memory when the machine has it: seeding tens of thousands of small writes
// is then bound by the CPU, not the disk (the measured runs go through the proxies either way).
if (process.env.TMPDIR === undefined && existsSync('/dev/shm')) process.env.TMPDIR = '/dev/shm';

interface Measured { label: string; wallS: number; rssKiB: number; hosts: HostCounts[]; totals: Totals; report?: Report }
interface Report { outcome: string; reason: string; message: string; counts: Record<string, number>; requests: number }

const repoOf = (k: number, image: TreeImage) => `region${k}/k8s-artifacts-prod/images/${image.project}/${image.name}`;

/** Straight to a backend registry (not through the proxies): monolithic blob uploads and manifest PUTs. */
class Seeder {
  requests = 0;
  readonly #url: string;
  /** Where each blob was first uploaded on this backend: later repositories mount it from there. */
  readonly #first = new Map<string, string>();
  constructor(url: string) { this.#url = url; }

  async blob(repo: string, blob: { digest: string; data: Buffer }): Promise<void> {
    const from = this.#first.get(blob.digest);
    this.requests += from ? 1 : 2;
    const query = from ? `?mount=${blob.digest}&from=${from}` : '';
    const start = await fetch(`${this.#url}/v2/${repo}/blobs/uploads/${query}`, { method: 'POST' });
    await start.arrayBuffer();
    if (start.status === 201) return;
    if (start.status !== 202) throw new Error(`upload to ${repo}: ${start.status}`);
    this.#first.set(blob.digest, repo);
    const location = new URL(start.headers.get('location')!, this.#url);
    location.searchParams.set('digest', blob.digest);
    const put = await fetch(location, { method: 'PUT', headers: { 'content-type': 'application/octet-stream' }, body: blob.data });
    await put.arrayBuffer();
    if (put.status !== 201) throw new Error(`upload of ${blob.digest} to ${repo}: ${put.status}`);
  }

  async manifest(repo: string, reference: string, stored: Stored): Promise<void> {
    this.requests += 1;
    const res = await fetch(`${this.#url}/v2/${repo}/manifests/${reference}`, { method: 'PUT', headers: { 'content-type': stored.mediaType }, body: stored.bytes });
    await res.arrayBuffer();
    if (res.status !== 201) throw new Error(`manifest ${repo}:${reference}: ${res.status} `);
  }

  async delete(repo: string, digest: string): Promise<void> {
    const res = await fetch(`${this.#url}/v2/${repo}/manifests/${digest}`, { method: 'DELETE' });
    await res.arrayBuffer();
    if (res.status !== 202 && res.status !== 404) throw new Error(`delete ${repo}@${digest}: ${res.status}`);
  }

  async tags(repo: string): Promise<Set<string>> {
    const res = await fetch(`${this.#url}/v2/${repo}/tags/list`);
    if (res.status === 404) { await res.arrayBuffer(); return new Set(); }
    return new Set(((await res.json()) as { tags?: string[] }).tags ?? []);
  }
}

const sigTag = (digest: string) => `${digest.replace(':', '-')}.sig`;
const indexTag = (digest: string) => digest.replace(':', '-');

/** Every image into every registry; every signed digest's artifacts into the primary and each mirror that does not miss them. */
async function seed(tree: SignedTree, seederOf: (k: number) => Seeder): Promise<void> {
  const jobs: { k: number; image: TreeImage }[] = [];
  // Mirrors get the images of signed digests only: no one (Hoist, regsync) reads the others there.
  for (const image of tree.images) for (let k = 0; k < tree.registries; k++) if (k === 0 || image.digests.some((d) => d.artifacts)) jobs.push({ k, image });
  // The primary first, so the mirrors' copies of its blobs are mounts.
  jobs.sort((a, b) => (a.k === 0 ? 0 : 1) - (b.k === 0 ? 0 : 1));
  await limited(jobs, 48, async ({ k, image }) => {
    const s = seederOf(k);
    const repo = repoOf(k, image);
    await s.blob(repo, image.config);
    await s.blob(repo, image.layer);
    let emptyConfig = false;
    for (const d of image.digests) {
      if (k > 0 && !d.artifacts) continue;
      await s.manifest(repo, d.tag, d.manifest);
      if (!d.artifacts || d.missing.has(k)) continue;
      for (const blob of d.artifacts.sig.blobs) await s.blob(repo, blob);
      await s.manifest(repo, sigTag(d.digest), d.artifacts.sig);
      for (const referrer of d.artifacts.referrers ?? []) {
        for (const blob of referrer.blobs) {
          if (blob.data.length === 2 && emptyConfig) continue;
          await s.blob(repo, blob);
          if (blob.data.length === 2) emptyConfig = true;
        }
        await s.manifest(repo, referrer.digest, referrer);
      }
      if (d.artifacts.index) await s.manifest(repo, indexTag(d.digest), d.artifacts.index);
    }
  });
}

/** The missing pairs' artifacts removed again at the backends (a harness step: Hoist never deletes). */
async function unrepair(tree: SignedTree, seederOf: (k: number) => Seeder): Promise<void> {
  const jobs: { k: number; repo: string; digest: string }[] = [];
  for (const image of tree.images) for (const d of image.digests) for (const k of d.missing) {
    const a = d.artifacts!;
    for (const stored of [a.sig, ...(a.referrers ?? []), ...(a.index ? [a.index] : [])]) jobs.push({ k, repo: repoOf(k, image), digest: stored.digest });
  }
  await limited(jobs, 32, async ({ k, repo, digest }) => seederOf(k).delete(repo, digest));
}

/** Missing artifact tags left at the mirrors, read from the backends. */
async function stillMissing(tree: SignedTree, seederOf: (k: number) => Seeder): Promise<number> {
  let missing = 0;
  const jobs: { k: number; image: TreeImage }[] = [];
  for (const image of tree.images) if (image.digests.some((d) => d.artifacts)) for (let k = 1; k < tree.registries; k++) jobs.push({ k, image });
  await limited(jobs, 32, async ({ k, image }) => {
    const tags = await seederOf(k).tags(repoOf(k, image));
    for (const d of image.digests) {
      if (!d.artifacts) continue;
      if (!tags.has(sigTag(d.digest))) missing++;
      if (d.artifacts.index && !tags.has(indexTag(d.digest))) missing++;
    }
  });
  return missing;
}

/** The fewest requests the repair allows, per host: listings, each missing artifact read once at the primary, each write once. */
function minimum(tree: SignedTree, hostOf: (k: number) => string): { byHost: Map<string, number>; listings: number } {
  const byHost = new Map<string, number>();
  const add = (k: number, n: number) => byHost.set(hostOf(k), (byHost.get(hostOf(k)) ?? 0) + n);
  let listings = 0;
  for (const image of tree.images) {
    add(0, 1);
    listings += 1;
    const signed = image.digests.filter((d) => d.artifacts);
    if (signed.length === 0) continue;
    for (let k = 1; k < tree.registries; k++) add(k, 1);
    listings += tree.registries - 1;
    for (let k = 1; k < tree.registries; k++) {
      let emptyConfig = signed.some((d) => d.artifacts!.index && !d.missing.has(k));
      for (const d of signed) {
        if (!d.missing.has(k)) continue;
        const a = d.artifacts!;
        add(k, a.sig.blobs.length * 2 + 1);
        for (const r of a.referrers ?? []) {
          for (const blob of r.blobs) {
            if (blob.data.length === 2 && emptyConfig) continue;
            add(k, 2);
            if (blob.data.length === 2) emptyConfig = true;
          }
          add(k, 1);
        }
        if (a.index) add(k, 1);
      }
    }
    for (const d of signed) {
      if (d.missing.size === 0) continue;
      const a = d.artifacts!;
      const blobs = new Set([...a.sig.blobs, ...(a.referrers ?? []).flatMap((r) => r.blobs)].map((b) => b.digest));
      add(0, 1 + (a.referrers?.length ?? 0) + (a.index ? 1 : 0) + blobs.size);
    }
  }
  return { byHost, listings };
}

async function main(): Promise<void> {
  const tmp = mkdtempSync(join(tmpdir(), 'hoist-bench-replicate-'));
  const backends: TestRegistry[] = [];
  const proxies: FaultProxy[] = [];
  try {
    const benchStarted = performance.now();
    backends.push(...await Promise.all(Array.from({ length: backendsCount }, () => startRegistry())));
    proxies.push(...await Promise.all(Array.from({ length: registries }, (_, k) => startFaultProxy(backends[k % backendsCount]!.url))));
    const seeders = backends.map((b) => new Seeder(b.url));
    const seederOf = (k: number) => seeders[k % backendsCount]!;
    const hostOf = (k: number) => proxies[k]!.host;

    const tree = buildSignedTree({ scale, registries, unsigned: 0.57, bundled: 0.3, missing: missingShare, seed: 20261126 });
    const shape = shapeOf(tree);
    const manifests = join(tmp, 'tree');
    writeThinManifests(manifests, tree, (k, project) => `${hostOf(k)}/region${k}/k8s-artifacts-prod/images/${project}`);
    const primary = `${hostOf(0)}/region0/k8s-artifacts-prod/images`;

    const cpu = cpus();
    console.log('# Hoist signature replication benchmark\n');
    console.log(`machine:   ${cpu.length} cores (${cpu[0]?.model.trim() ?? '?'}), ${(totalmem() / 1024 ** 3).toFixed(0)} GiB RAM; registries, proxies, hoist and regsync share them`);
    console.log(`node:      ${process.version}`);
    console.log(`registry:  ${await toolVersion('docker-registry', ['--version'])} x ${backendsCount} backends (no referrers API: bundles live in sha256-<hex> tag indexes)`);
    if (withRegsync) console.log(`regsync:   ${await toolVersion('regsync', ['version']).then((v) => v.replace(/\s+/g, ' '))}`);
    console.log(`proxies:   ${registries} registry hosts (1 primary + ${registries - 1} mirrors) over ${backendsCount} backends; each ${latencyMs} ms latency, quota ${quotaPerS} requests/s (429 + Retry-After past it)`);
    console.log(`tree:      BENCH_SCALE=${scale}: ${shape.projects} kpromo thin-manifest projects, ${shape.images} images, ${shape.digests} digests: ${shape.unsigned} unsigned (${(100 * shape.unsigned / shape.digests).toFixed(0)}%),` +
      ` ${shape.signed} signed (.sig; ${shape.bundled} also a signature and an attestation bundle in the referrers tag index)`);
    console.log(`missing:   ${shape.missingPairs} of ${shape.pairs} (signed digest, mirror) pairs lack their signatures (BENCH_MISSING=${missingShare})\n`);

    let started = performance.now();
    await seed(tree, seederOf);
    console.log(`seeded ${seeders.reduce((n, s) => n + s.requests, 0)} requests into the backends in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    for (const p of proxies) {
      p.setLatency(latencyMs);
      p.setQuota({ limit: quotaPerS, windowMs: 1000 });
    }

    const reset = () => { for (const p of proxies) p.requests.splice(0); };
    const collect = (label: string, t: { wallS: number; rssKiB: number }, report?: Report): Measured => {
      const hosts = proxies.map(countsOf);
      return { label, wallS: t.wallS, rssKiB: t.rssKiB, hosts, totals: total(hosts), ...(report && { report }) };
    };
    const hoist = async (label: string, args: string[]): Promise<Measured> => {
      reset();
      const out = join(tmp, `${label.replace(/\W+/g, '-')}.json`);
      const t = await timed(process.execPath, [hoistBin, 'replicate', '--thin-manifest-dir', manifests, '--primary', primary, '--concurrency', String(hoistConcurrency), ...args, '-o', 'json', '--quiet'], out);
      if (t.code !== 0) throw new Error(`hoist replicate ${args.join(' ')} exited ${t.code}:\n${t.stderr.slice(-3000)}\n${readFileSync(out, 'utf8').slice(0, 3000)}`);
      const report = JSON.parse(readFileSync(out, 'utf8')) as Report;
      const m = collect(label, t, report);
      console.log(`${label}: ${t.wallS.toFixed(1)} s, ${m.totals.requests} requests (${m.totals.throttled} answered 429), ${report.reason}: ${JSON.stringify(report.counts)}`);
      return m;
    };

    const { byHost, listings } = minimum(tree, hostOf);
    const minimumTotal = [...byHost.values()].reduce((a, b) => a + b, 0);
    const floorS = Math.max(...byHost.values()) / quotaPerS;

    const dry = await hoist('hoist replicate (dry run)', []);
    const repair = await hoist('hoist replicate --confirm (repair)', ['--confirm']);
    const steady = await hoist('hoist replicate --confirm (steady state)', ['--confirm']);
    const left = await stillMissing(tree, seederOf);
    console.log(`after Hoist: ${left} artifact tags missing at the mirrors`);

    let regsync: Measured | undefined;
    let regsyncLeft = 0;
    if (withRegsync) {
      // The same starting point: the artifacts Hoist wrote are removed at the backends again.
      await unrepair(tree, seederOf);
      const before = await stillMissing(tree, seederOf);
      const config = join(tmp, 'regsync.yaml');
      const lines = ['version: 1', 'creds:'];
      for (const p of proxies) lines.push(`  - registry: ${p.host}`, '    tls: disabled', `    reqPerSec: ${quotaPerS}`, '    reqConcurrent: 8');
      // regsync's repository sync of the artifact tags (`.sig`, `.att`, the referrers tag index with the
      // manifests it lists), --missing: tags the target lists are not compared, as Hoist's Presence check.
      lines.push('defaults:', `  parallel: ${regsyncParallel}`, 'sync:');
      for (const image of tree.images) {
        if (!image.digests.some((d) => d.artifacts)) continue;
        for (let k = 1; k < registries; k++) {
          lines.push(`  - source: ${hostOf(0)}/${repoOf(0, image)}`, `    target: ${hostOf(k)}/${repoOf(k, image)}`, '    type: repository',
            '    tags:', '      allow:', "        - 'sha256-[0-9a-f]{64}(\\.sig|\\.att)?'");
        }
      }
      writeFileSync(config, `${lines.join('\n')}\n`);
      reset();
      started = performance.now();
      const t = await timed(tool('regsync'), ['once', '--missing', '-c', config, '--logopt', 'json', '-v', 'error'], join(tmp, 'regsync.out'));
      if (t.code !== 0) console.log(`regsync exited ${t.code}: ${t.stderr.trim().split('\n').slice(-3).join(' | ')}`);
      regsync = collect('regsync once --missing (artifact tags)', t);
      regsyncLeft = await stillMissing(tree, seederOf);
      console.log(`${regsync.label}: ${t.wallS.toFixed(1)} s, ${regsync.totals.requests} requests (${regsync.totals.throttled} answered 429); ${before} artifact tags missing before, ${regsyncLeft} after`);
    }

    const hostFloor = (m: Measured) => Math.max(...m.hosts.map((h) => h.admitted)) / quotaPerS;
    const mib = (kib: number) => `${(kib / 1024).toFixed(0)} MiB`;
    console.log(`\n## Repairing ${shape.missingPairs} missing mirror signatures (${(100 * shape.missingPairs / shape.pairs).toFixed(1)}% of ${shape.pairs} pairs)\n`);
    console.log(`minimum requests: ${minimumTotal} = ${listings} tag listings (${shape.primaryRepos} primary + ${shape.mirrorRepos} mirror repositories of signed images) + ` +
      `${minimumTotal - listings} reads of what is missing at the primary and writes at the mirrors; the busiest host needs ${Math.max(...byHost.values())}, ` +
      `so the quota alone allows no less than ${floorS.toFixed(1)} s\n`);
    const rows = [dry, repair, steady, ...(regsync ? [regsync] : [])].map((m) => [
      m.label, `${m.wallS.toFixed(1)} s`, String(m.totals.requests), String(m.totals.admitted),
      m === dry || m === steady ? `${(m.totals.admitted / listings).toFixed(3)}x listings` : `${(m.totals.admitted / minimumTotal).toFixed(2)}x`,
      String(m.totals.throttled), String(m.totals.writes), methods(m.totals.byMethod), `${hostFloor(m).toFixed(1)} s`,
      m === dry || m === steady ? '' : `${(m.wallS / floorS).toFixed(1)}x`, mib(m.rssKiB),
    ]);
    console.log(table(['run', 'wall', 'requests', 'admitted', 'vs minimum', '429s', 'writes', 'by method', 'busiest host / quota', 'wall / floor', 'peak RSS'], rows));
    console.log(`\nmirror artifact tags still missing: after Hoist ${left}${regsync ? `, after regsync ${regsyncLeft}` : ''}`);
    if (regsync) console.log(`regsync: one sync entry per (image, mirror) of the artifact tags, --missing, parallel ${regsyncParallel}, reqPerSec ${quotaPerS} and 8 concurrent requests per host`);
    console.log(`\nbenchmark took ${((performance.now() - benchStarted) / 1000).toFixed(0)} s`);
  } finally {
    await Promise.all(proxies.map((p) => p.close()));
    await Promise.all(backends.map((r) => r.stop()));
    rmSync(tmp, { recursive: true, force: true });
  }
}

await main();
