import { readFileSync } from 'node:fs';

// One place for the promoter's identity: it is printed by `hoist version` and later recorded
// in promotion attestations as the builder's version.
const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
  name: string;
  version: string;
};

export const hoistVersion: string = pkg.version;
export const hoistName: string = pkg.name;
