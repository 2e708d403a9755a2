// What a heap snapshot holds, by kind and constructor: self sizes summed, the largest first.
// For the controller benchmark's snapshots (BENCH_HEAPSNAPSHOT=1 npm run bench:controller):
//
//   node bench/support/heap-summary.ts FILE.heapsnapshot [TOP]
import { readFileSync } from 'node:fs';

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]] } };
  nodes: number[];
  strings: string[];
}

const [file, top = '40'] = process.argv.slice(2);
if (!file) throw new Error('usage: node bench/support/heap-summary.ts FILE.heapsnapshot [TOP]');
const snap = JSON.parse(readFileSync(file, 'utf8')) as Snapshot;
const fields = snap.snapshot.meta.node_fields;
const types = snap.snapshot.meta.node_types[0];
const width = fields.length;
const at = (name: string) => fields.indexOf(name);
const [typeAt, nameAt, sizeAt] = [at('type'), at('name'), at('self_size')];
const groups = new Map<string, { count: number; bytes: number }>();
let total = 0;
for (let i = 0; i < snap.nodes.length; i += width) {
  const type = types[snap.nodes[i + typeAt]!]!;
  const name = type === 'object' || type === 'native' || type === 'closure' ? snap.strings[snap.nodes[i + nameAt]!]! : '';
  const key = `${type} ${name.slice(0, 80)}`;
  const size = snap.nodes[i + sizeAt]!;
  total += size;
  const group = groups.get(key) ?? { count: 0, bytes: 0 };
  group.count += 1;
  group.bytes += size;
  groups.set(key, group);
}
const mib = (n: number) => (n / 1048576).toFixed(2);
console.log(`${mib(total)} MiB in ${snap.nodes.length / width} nodes`);
for (const [key, g] of [...groups].sort((a, b) => b[1].bytes - a[1].bytes).slice(0, Number(top))) {
  console.log(`${mib(g.bytes).padStart(8)} MiB ${String(g.count).padStart(8)}  ${key}`);
}
