// Controller scale benchmark: 1,000 small PromotionManifests (BENCH_RESOURCES) on the test bed's
// real kube-apiserver, reconciled by `hoist controller` in its own process against real
// registries. Measures the time until every resource is Ready, the controller's peak and idle
// RSS, the API requests it makes per idle minute (by resource, from the API server's own
// apiserver_request_total) and the TCP connections it opens to the API server (a pass-through
// proxy in front of it counts them), plus the registry requests per run, and what of the heap is
// live at idle (bench/support/memory-probe.mjs). Phases (BENCH_PHASES, comma-separated):
//   first          first start, nothing promoted yet, Node's own heap sizing on this machine;
//   restart        a restart with everything in place: what an upgrade or a rescheduled pod costs
//                  (right after a first start, its runs still write once: the counts move from
//                  "promoted" to "already present"; a later restart writes nothing);
//   client-go      another restart, with client-go's Lease timings (15 s / 10 s / 2 s), for the
//                  idle traffic they cost;
//   chart-first    first start (to fresh destinations) with the chart's NODE_OPTIONS, i.e. the
//                  heap the controller has in its container (charts/hoist/values.yaml nodeOptions);
//   chart-restart  a restart with the chart's NODE_OPTIONS.
// The controller runs as the container image has it (dist/, built into .tmp/bench-image).
// A phase is over when every resource is Ready and this controller process has run each once
// (its hoist_manifests gauge), so a restart's reruns are not mistaken for idle time.
//
//   npm run bench:controller            (BENCH_RESOURCES=200 for a quick look)
//   BENCH_HEAPSNAPSHOT=1                also writes a heap snapshot of each idle controller
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect, type AddressInfo, type Server } from 'node:net';
import { cpus, totalmem, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, fetch as undiciFetch } from 'undici';
import { parse as parseYaml } from 'yaml';
import { applyCrd, kubectl } from '../test/support/controller.ts';
import { startFaultProxy, type FaultProxy } from '../test/support/fault-proxy.ts';
import { buildImage, pushImage } from '../test/support/images.ts';
import { startKube, type TestKube } from '../test/support/kube.ts';
import { startRegistry, type TestRegistry } from '../test/support/registry.ts';
import { table } from './support/measure.ts';

const env = (name: string, fallback: number) => Number(process.env[name] ?? fallback);
const resources = env('BENCH_RESOURCES', 1000);
const images = env('BENCH_IMAGES', 50);
const idleSeconds = env('BENCH_IDLE_SECONDS', 60);
const root = new URL('..', import.meta.url).pathname;
const probe = new URL('./support/memory-probe.mjs', import.meta.url).pathname;
const namespace = 'bench';
const allPhases = ['first', 'restart', 'client-go', 'chart-first', 'chart-restart'] as const;
type PhaseName = typeof allPhases[number];
const wanted = (process.env.BENCH_PHASES ?? allPhases.join(',')).split(',').map((p) => p.trim()).filter(Boolean);
for (const p of wanted) if (!(allPhases as readonly string[]).includes(p)) throw new Error(`BENCH_PHASES: unknown phase ${p}; known: ${allPhases.join(', ')}`);

/** The NODE_OPTIONS the chart gives the controller by default (charts/hoist/values.yaml). */
function chartNodeOptions(): string {
  const values = parseYaml(readFileSync(new URL('../charts/hoist/values.yaml', import.meta.url), 'utf8')) as { nodeOptions?: string };
  return process.env.BENCH_CHART_NODE_OPTIONS ?? values.nodeOptions ?? '';
}

/**
 * The controller as the container image runs it (Dockerfile): dist/ compiled by tsc, bin/hoist.js,
 * package.json, NODE_ENV=production; no type stripping, whose compiler would be measured too.
 * BENCH_FROM_SOURCE=1 runs the checkout's sources instead.
 */
async function imageLayout(): Promise<string> {
  if (process.env.BENCH_FROM_SOURCE) return join(root, 'bin/hoist.js');
  const out = join(root, '.tmp/bench-image');
  rmSync(out, { recursive: true, force: true });
  const tsc = join(root, 'node_modules/typescript/bin/tsc');
  await new Promise<void>((resolve, reject) => {
    const build = spawn(process.execPath, [tsc, '-p', join(root, 'tsconfig.build.json'), '--outDir', join(out, 'dist'), '--declaration', 'false', '--sourceMap', 'false'], { stdio: 'inherit' });
    build.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`tsc exited ${code}`))));
  });
  mkdirSync(join(out, 'bin'));
  copyFileSync(join(root, 'bin/hoist.js'), join(out, 'bin/hoist.js'));
  copyFileSync(join(root, 'package.json'), join(out, 'package.json'));
  return join(out, 'bin/hoist.js');
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** A TCP pass-through in front of the API server: TLS goes through untouched; it counts connections. */
async function tcpCounter(target: URL): Promise<{ server: Server; port: number; opened: () => number }> {
  let opened = 0;
  const server = createServer((client) => {
    opened += 1;
    const upstream = connect(Number(target.port), target.hostname);
    client.pipe(upstream).pipe(client);
    const end = () => { client.destroy(); upstream.destroy(); };
    client.on('error', end);
    upstream.on('error', end);
    client.on('close', end);
    upstream.on('close', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return { server, port: (server.address() as { port: number }).port, opened: () => opened };
}

/** The API server's request counter, by resource: what every client made (only the controller talks to it while idle). */
async function apiRequests(kube: TestKube, dispatcher: Agent): Promise<Map<string, number>> {
  const res = await undiciFetch(`${kube.server}/metrics`, { headers: { authorization: `Bearer ${kube.adminToken}` }, dispatcher });
  const text = await res.text();
  const byResource = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line.startsWith('apiserver_request_total{')) continue;
    const resource = /resource="([^"]*)"/.exec(line)?.[1] || '(none)';
    byResource.set(resource, (byResource.get(resource) ?? 0) + Number(line.slice(line.lastIndexOf(' ') + 1)));
  }
  return byResource;
}

const diff = (after: Map<string, number>, before: Map<string, number>) =>
  new Map([...after].map(([k, v]) => [k, v - (before.get(k) ?? 0)] as const).filter(([, v]) => v > 0));
const sum = (m: Map<string, number>) => [...m.values()].reduce((a, b) => a + b, 0);

/** RSS now and at its peak, and now split into anonymous memory (heaps) and file pages (the node binary's code). */
function rssOf(pid: number): { rss: number; peak: number; anon: number; file: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (name: string) => Number(new RegExp(`${name}:\\s+(\\d+) kB`).exec(status)?.[1] ?? 0);
  return { rss: kb('VmRSS') / 1024, peak: kb('VmHWM') / 1024, anon: kb('RssAnon') / 1024, file: kb('RssFile') / 1024 };
}

/** `generation` names fresh destination repositories, so a first start has everything to copy again. */
function manifests(staging: FaultProxy, destinations: FaultProxy[], digests: string[], generation: number): string {
  const docs: string[] = [];
  for (let i = 0; i < resources; i++) {
    const image = i % images;
    docs.push([
      'apiVersion: hoist.dev/v1alpha1', 'kind: PromotionManifest', 'metadata:', `  name: pm-${i}`, `  namespace: ${namespace}`, 'spec:',
      '  interval: 1h', '  registries:', `  - name: ${staging.host}/staging`, '    src: true',
      ...destinations.map((d) => `  - name: ${d.host}/g${generation}/pm-${i}`),
      '  images:', `  - name: app-${image}`, '    dmap:', `      "${digests[image]}": ["v1"]`,
    ].join('\n'));
  }
  return `${docs.join('\n---\n')}\n`;
}

interface Phase {
  label: string;
  readyS: number;
  peakMiB: number;
  idleMiB: number;
  /** The controller's own figures at the end of the idle period: as they were, and live after a full GC. */
  memory?: { before: HeapFigures; live: HeapFigures };
  connections: number;
  idleConnections: number;
  wave: Map<string, number>;
  idle: Map<string, number>;
  registryRequests: number;
}

interface HeapFigures { rss: number; heapTotal: number; heapUsed: number; external: number; arrayBuffers: number; heapLimit: number }

/** How many resources this controller process has run and found Ready (its hoist_manifests gauge). */
async function readyHere(metricsPort: number, dispatcher: Agent): Promise<number> {
  const res = await undiciFetch(`http://127.0.0.1:${metricsPort}/metrics`, { dispatcher }).catch(() => undefined);
  if (!res?.ok) return 0;
  const line = (await res.text()).split('\n').find((l) => l.startsWith('hoist_manifests{condition="Ready"}'));
  return Number(line?.slice(line.lastIndexOf(' ') + 1) ?? 0);
}

/** Asks the probe in the controller for its memory figures (and a heap snapshot with BENCH_HEAPSNAPSHOT). */
async function probeMemory(child: ChildProcess, file: string): Promise<{ before: HeapFigures; live: HeapFigures; snapshot?: string } | undefined> {
  rmSync(file, { force: true });
  child.kill('SIGUSR2');
  for (let i = 0; i < 600 && !existsSync(file); i++) await new Promise((r) => setTimeout(r, 100));
  await new Promise((r) => setTimeout(r, 200));
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as { before: HeapFigures; live: HeapFigures; snapshot?: string };
  } catch {
    return undefined;
  }
}

interface PhaseRun { label: string; flags: string[]; nodeOptions?: string; hoistBin: string }

async function phase(run: PhaseRun, kube: TestKube, counter: Awaited<ReturnType<typeof tcpCounter>>, kubeconfig: string, proxies: FaultProxy[], dispatcher: Agent, tmp: string): Promise<Phase> {
  const { label, flags } = run;
  for (const p of proxies) p.requests.splice(0);
  const before = await apiRequests(kube, dispatcher);
  const openedBefore = counter.opened();
  const metricsPort = await freePort();
  const probeFile = join(tmp, `probe-${label.replace(/[^a-z0-9]+/gi, '-')}.json`);
  const started = performance.now();
  const child: ChildProcess = spawn(process.execPath, ['--import', probe, run.hoistBin, 'controller', '--kubeconfig', kubeconfig, '--namespace', namespace,
    '--leader-elect', '--leader-election-namespace', namespace, '--metrics-bind-address', `127.0.0.1:${metricsPort}`, '--health-probe-bind-address', '0', '--log-level', 'warn', ...flags],
  { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, HOIST_BENCH_PROBE: probeFile, ...(process.env.BENCH_HEAPSNAPSHOT && { HOIST_BENCH_HEAPSNAPSHOT: '1' }), NODE_ENV: 'production', NODE_OPTIONS: run.nodeOptions ?? '' } });
  try {
    // Every resource Ready and run once by this process, polled every 5 s (the polls are the bench's).
    for (;;) {
      await new Promise((r) => setTimeout(r, 5000));
      if (child.exitCode !== null) throw new Error(`the controller exited ${child.exitCode}`);
      if (await readyHere(metricsPort, dispatcher) < resources) continue;
      const out = await kubectl(kube, ['get', 'pm', '-n', namespace, '-o', 'jsonpath={range .items[*]}{.status.conditions[?(@.type=="Ready")].status}{"\\n"}{end}']);
      if (out.split('\n').filter((l) => l === 'True').length >= resources) break;
    }
    const readyS = (performance.now() - started) / 1000;
    const afterWave = await apiRequests(kube, dispatcher);
    const registryRequests = proxies.reduce((n, p) => n + p.requests.length, 0);
    // Let the last writes and the garbage of the wave settle, then watch an idle period.
    await new Promise((r) => setTimeout(r, 15_000));
    const idleStart = await apiRequests(kube, dispatcher);
    const openedIdle = counter.opened();
    const samples: number[] = [];
    for (let s = 0; s < idleSeconds; s += 5) {
      await new Promise((r) => setTimeout(r, 5000));
      samples.push(rssOf(child.pid!).rss);
    }
    const idleEnd = await apiRequests(kube, dispatcher);
    const { peak, anon, file } = rssOf(child.pid!);
    const idle = diff(idleEnd, idleStart);
    // The bench's own /metrics scrape is one request to resource "(none)".
    idle.set('(none)', Math.max(0, (idle.get('(none)') ?? 0) - 1));
    const memory = await probeMemory(child, probeFile);
    const result: Phase = {
      label, readyS, peakMiB: peak, idleMiB: samples.reduce((a, b) => a + b, 0) / samples.length, ...(memory && { memory }),
      connections: counter.opened() - openedBefore, idleConnections: counter.opened() - openedIdle,
      wave: diff(afterWave, before), idle, registryRequests,
    };
    console.log(`${label}: all ${resources} Ready in ${readyS.toFixed(0)} s; peak RSS ${peak.toFixed(0)} MiB, idle ${result.idleMiB.toFixed(0)} MiB (at the end ${anon.toFixed(0)} MiB anonymous, ${file.toFixed(0)} MiB file pages);` +
      ` ${sum(result.idle)} API requests in ${idleSeconds} s idle (${[...result.idle].map(([k, v]) => `${k} ${v}`).join(', ')}); ${result.connections} API connections opened, ${result.idleConnections} while idle` +
      (memory ? `; heap used ${memory.before.heapUsed} MiB of ${memory.before.heapTotal} (limit ${memory.before.heapLimit}), live after a full GC ${memory.live.heapUsed} MiB of ${memory.live.heapTotal}, external ${memory.live.external} MiB, RSS after it ${memory.live.rss} MiB${memory.snapshot ? `; snapshot ${memory.snapshot}` : ''}` : ''));
    return result;
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
  }
}

async function main(): Promise<void> {
  const tmp = mkdtempSync(join(tmpdir(), 'hoist-bench-controller-'));
  let kube: TestKube | undefined;
  const registries: TestRegistry[] = [];
  const proxies: FaultProxy[] = [];
  let counter: Awaited<ReturnType<typeof tcpCounter>> | undefined;
  const dispatcher = new Agent({ connect: { rejectUnauthorized: false } });
  try {
    kube = await startKube();
    await applyCrd(kube);
    await kubectl(kube, ['create', 'namespace', namespace]);
    registries.push(...await Promise.all([startRegistry(), startRegistry(), startRegistry()]));
    proxies.push(...await Promise.all(registries.map((r) => startFaultProxy(r.url))));
    const [staging, ...destinations] = proxies as [FaultProxy, ...FaultProxy[]];
    const built = Array.from({ length: images }, () => buildImage({ layers: [200] }));
    for (const [i, image] of built.entries()) await pushImage(registries[0]!, `staging/app-${i}`, image, ['v1']);

    counter = await tcpCounter(new URL(kube.server));
    const kubeconfig = join(tmp, 'kubeconfig');
    writeFileSync(kubeconfig, readFileSync(kube.kubeconfig, 'utf8').replace(kube.server, `https://127.0.0.1:${counter.port}`));
    const file = join(tmp, 'manifests.yaml');
    let generation = 0;
    const applyManifests = async () => {
      const started = performance.now();
      generation += 1;
      writeFileSync(file, manifests(staging, destinations, built.map((b) => b.digest), generation));
      await kubectl(kube!, ['apply', '--server-side', '-f', file]);
      console.log(`applied ${resources} PromotionManifests (destinations g${generation}/) in ${((performance.now() - started) / 1000).toFixed(0)} s`);
    };
    await applyManifests();

    const cpu = cpus();
    const chart = chartNodeOptions();
    console.log(`machine: ${cpu.length} cores (${cpu[0]?.model.trim() ?? '?'}), ${(totalmem() / 1024 ** 3).toFixed(0)} GiB RAM, node ${process.version}; the API server, etcd, 3 registries and the controller share them`);
    console.log(`workload: ${resources} resources, each 1 of ${images} staging images (1 digest, tag v1) to 2 registries; interval 1h; --concurrent 4 (default); the chart's NODE_OPTIONS: "${chart}"\n`);

    const hoistBin = await imageLayout();
    const runs: Record<PhaseName, PhaseRun> = {
      first: { label: 'first start, Node\'s default heap', flags: [], hoistBin },
      restart: { label: 'restart (everything in place), Node\'s default heap', flags: [], hoistBin },
      'chart-first': { label: `first start, chart heap`, flags: [], nodeOptions: chart, hoistBin },
      'chart-restart': { label: `restart, chart heap`, flags: [], nodeOptions: chart, hoistBin },
      'client-go': { label: 'restart, client-go Lease timings (15s/10s/2s)', flags: ['--lease-duration', '15s', '--renew-deadline', '10s', '--retry-period', '2s'], hoistBin },
    };
    const phases: Phase[] = [];
    for (const name of wanted as PhaseName[]) {
      // A first start after an earlier phase gets fresh destinations: everything is copied again.
      if (name.endsWith('first') && phases.length > 0) await applyManifests();
      phases.push(await phase(runs[name], kube, counter, kubeconfig, proxies, dispatcher, tmp));
    }

    console.log('\n## Results\n');
    console.log(table(
      ['run', 'all reconciled', 'peak RSS', 'idle RSS', 'idle heap used / live', 'API requests per idle minute', 'of which Leases', 'API requests per reconcile', 'API connections opened (idle)', 'registry requests per run'],
      phases.map((p) => [
        p.label, `${p.readyS.toFixed(0)} s`, `${p.peakMiB.toFixed(0)} MiB`, `${p.idleMiB.toFixed(0)} MiB`,
        p.memory ? `${p.memory.before.heapUsed.toFixed(0)} / ${p.memory.live.heapUsed.toFixed(0)} MiB` : '?',
        (sum(p.idle) * 60 / idleSeconds).toFixed(0), ((p.idle.get('leases') ?? 0) * 60 / idleSeconds).toFixed(0),
        (sum(p.wave) / resources).toFixed(2), `${p.connections} (${p.idleConnections})`, (p.registryRequests / resources).toFixed(1),
      ]),
    ));
    for (const p of phases) console.log(`\n${p.label}: API requests until all were reconciled, by resource: ${[...p.wave].map(([k, v]) => `${k} ${v}`).join(', ')}`);
  } finally {
    counter?.server.close();
    await dispatcher.close();
    await Promise.all(proxies.map((p) => p.close()));
    await Promise.all(registries.map((r) => r.stop()));
    await kube?.stop();
    if (process.env.BENCH_HEAPSNAPSHOT) console.log(`\nheap snapshots kept in ${tmp}`);
    else rmSync(tmp, { recursive: true, force: true });
  }
}

await main();
