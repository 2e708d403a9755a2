// Controller scale benchmark: 1,000 small PromotionManifests (BENCH_RESOURCES) on the test bed's
// real kube-apiserver, reconciled by `hoist controller` in its own process against real
// registries. Measures the time until every resource is Ready, the controller's peak and idle
// RSS, the API requests it makes per idle minute (by resource, from the API server's own
// apiserver_request_total) and the TCP connections it opens to the API server (a pass-through
// proxy in front of it counts them), plus the registry requests per run. Twice: with client-go's
// Lease timings (15 s / 10 s / 2 s) and with Hoist's defaults, each from a fresh start.
//
//   npm run bench:controller            (BENCH_RESOURCES=200 for a quick look)
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect, type Server } from 'node:net';
import { cpus, totalmem, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, fetch as undiciFetch } from 'undici';
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
const hoistBin = new URL('../bin/hoist.js', import.meta.url).pathname;
const namespace = 'bench';

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

function rssOf(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (name: string) => Number(new RegExp(`${name}:\\s+(\\d+) kB`).exec(status)?.[1] ?? 0);
  return { rss: kb('VmRSS') / 1024, peak: kb('VmHWM') / 1024 };
}

function manifests(staging: FaultProxy, destinations: FaultProxy[], digests: string[]): string {
  const docs: string[] = [];
  for (let i = 0; i < resources; i++) {
    const image = i % images;
    docs.push([
      'apiVersion: hoist.dev/v1alpha1', 'kind: PromotionManifest', 'metadata:', `  name: pm-${i}`, `  namespace: ${namespace}`, 'spec:',
      '  interval: 1h', '  registries:', `  - name: ${staging.host}/staging`, '    src: true',
      ...destinations.map((d) => `  - name: ${d.host}/pm-${i}`),
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
  connections: number;
  idleConnections: number;
  wave: Map<string, number>;
  idle: Map<string, number>;
  registryRequests: number;
}

async function phase(label: string, kube: TestKube, counter: Awaited<ReturnType<typeof tcpCounter>>, kubeconfig: string, flags: string[], proxies: FaultProxy[], dispatcher: Agent): Promise<Phase> {
  for (const p of proxies) p.requests.splice(0);
  const before = await apiRequests(kube, dispatcher);
  const openedBefore = counter.opened();
  const started = performance.now();
  const child: ChildProcess = spawn(process.execPath, [hoistBin, 'controller', '--kubeconfig', kubeconfig, '--namespace', namespace,
    '--leader-elect', '--leader-election-namespace', namespace, '--metrics-bind-address', '0', '--health-probe-bind-address', '0', '--log-level', 'warn', ...flags],
  { stdio: ['ignore', 'ignore', 'inherit'] });
  try {
    // Ready: every resource's Ready condition True, polled every 5 s (the polls are the bench's).
    for (;;) {
      await new Promise((r) => setTimeout(r, 5000));
      const out = await kubectl(kube, ['get', 'pm', '-n', namespace, '-o', 'jsonpath={range .items[*]}{.status.conditions[?(@.type=="Ready")].status}{"\\n"}{end}']);
      const ready = out.split('\n').filter((l) => l === 'True').length;
      if (ready >= resources) break;
      if (child.exitCode !== null) throw new Error(`the controller exited ${child.exitCode}`);
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
    const { peak } = rssOf(child.pid!);
    const idle = diff(idleEnd, idleStart);
    // The bench's own /metrics scrape is one request to resource "(none)".
    idle.set('(none)', Math.max(0, (idle.get('(none)') ?? 0) - 1));
    const result: Phase = {
      label, readyS, peakMiB: peak, idleMiB: samples.reduce((a, b) => a + b, 0) / samples.length,
      connections: counter.opened() - openedBefore, idleConnections: counter.opened() - openedIdle,
      wave: diff(afterWave, before), idle, registryRequests,
    };
    console.log(`${label}: all ${resources} Ready in ${readyS.toFixed(0)} s; peak RSS ${peak.toFixed(0)} MiB, idle ${result.idleMiB.toFixed(0)} MiB;` +
      ` ${sum(result.idle)} API requests in ${idleSeconds} s idle (${[...result.idle].map(([k, v]) => `${k} ${v}`).join(', ')}); ${result.connections} API connections opened, ${result.idleConnections} while idle`);
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
    const started = performance.now();
    const file = join(tmp, 'manifests.yaml');
    writeFileSync(file, manifests(staging, destinations, built.map((b) => b.digest)));
    await kubectl(kube, ['apply', '--server-side', '-f', file]);
    console.log(`applied ${resources} PromotionManifests in ${((performance.now() - started) / 1000).toFixed(0)} s`);

    const cpu = cpus();
    console.log(`machine: ${cpu.length} cores (${cpu[0]?.model.trim() ?? '?'}), ${(totalmem() / 1024 ** 3).toFixed(0)} GiB RAM, node ${process.version}; the API server, etcd, 3 registries and the controller share them`);
    console.log(`workload: ${resources} resources, each 1 of ${images} staging images (1 digest, tag v1) to 2 registries; interval 1h; --concurrent 4 (default)\n`);

    const phases: Phase[] = [];
    phases.push(await phase('client-go Lease timings (15s/10s/2s), first start', kube, counter, kubeconfig, ['--lease-duration', '15s', '--renew-deadline', '10s', '--retry-period', '2s'], proxies, dispatcher));
    phases.push(await phase('Hoist defaults, restart (everything in place)', kube, counter, kubeconfig, [], proxies, dispatcher));

    console.log('\n## Results\n');
    console.log(table(
      ['run', 'all Ready', 'peak RSS', 'idle RSS', 'API requests per idle minute', 'of which Leases', 'API requests per reconcile', 'API connections opened (idle)', 'registry requests per run'],
      phases.map((p) => [
        p.label, `${p.readyS.toFixed(0)} s`, `${p.peakMiB.toFixed(0)} MiB`, `${p.idleMiB.toFixed(0)} MiB`,
        (sum(p.idle) * 60 / idleSeconds).toFixed(0), ((p.idle.get('leases') ?? 0) * 60 / idleSeconds).toFixed(0),
        (sum(p.wave) / resources).toFixed(2), `${p.connections} (${p.idleConnections})`, (p.registryRequests / resources).toFixed(1),
      ]),
    ));
    for (const p of phases) console.log(`\n${p.label}: API requests during the wave by resource: ${[...p.wave].map(([k, v]) => `${k} ${v}`).join(', ')}`);
  } finally {
    counter?.server.close();
    await dispatcher.close();
    await Promise.all(proxies.map((p) => p.close()));
    await Promise.all(registries.map((r) => r.stop()));
    await kube?.stop();
    rmSync(tmp, { recursive: true, force: true });
  }
}

await main();
