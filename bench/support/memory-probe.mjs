// Loaded into the benchmarked controller with `--import` (bench/controller.ts): on SIGUSR2 it
// writes the process's memory figures to $HOIST_BENCH_PROBE as JSON, once as they are and once
// after a full garbage collection (what is live), and, with $HOIST_BENCH_HEAPSNAPSHOT set, a
// heap snapshot next to it. Nothing else: the controller runs as it would without it. Plain
// JavaScript: a .ts file would load Node's type stripper into the process being measured.
import { writeFileSync } from 'node:fs';
import { getHeapStatistics, setFlagsFromString, writeHeapSnapshot } from 'node:v8';
import { runInNewContext } from 'node:vm';

const out = process.env.HOIST_BENCH_PROBE;
const mib = (n) => Math.round((n / 1048576) * 10) / 10;

function figures() {
  const m = process.memoryUsage();
  const h = getHeapStatistics();
  return { rss: mib(m.rss), heapTotal: mib(m.heapTotal), heapUsed: mib(m.heapUsed), external: mib(m.external), arrayBuffers: mib(m.arrayBuffers), heapLimit: mib(h.heap_size_limit) };
}

if (out) {
  process.on('SIGUSR2', () => {
    const before = figures();
    // A full collection without starting the process with --expose-gc (which would change nothing else either).
    setFlagsFromString('--expose-gc');
    runInNewContext('gc')();
    const live = figures();
    const snapshot = process.env.HOIST_BENCH_HEAPSNAPSHOT ? writeHeapSnapshot(`${out}.heapsnapshot`) : undefined;
    writeFileSync(out, JSON.stringify({ before, live, ...(snapshot && { snapshot }) }));
  });
}
