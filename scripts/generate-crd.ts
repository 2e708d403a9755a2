// Writes the CRDs from their zod schemas: `npm run generate:crd`.
import { writeFileSync } from 'node:fs';
import { crdFile, renderCrd } from '../src/api/crd.ts';
import { renderReplicationCrd, replicationCrdFile } from '../src/api/signature-replication-crd.ts';

for (const [file, render] of [[crdFile, renderCrd], [replicationCrdFile, renderReplicationCrd]] as const) {
  writeFileSync(new URL(`../${file}`, import.meta.url), render());
  process.stdout.write(`wrote ${file}\n`);
}
