// Writes the PromotionManifest CRD from its zod schema: `npm run generate:crd`.
import { writeFileSync } from 'node:fs';
import { crdFile, renderCrd } from '../src/api/crd.ts';

const target = new URL(`../${crdFile}`, import.meta.url);
writeFileSync(target, renderCrd());
process.stdout.write(`wrote ${crdFile}\n`);
