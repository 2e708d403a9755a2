#!/usr/bin/env node
// Entry point. In a checkout Node 24 runs the TypeScript sources directly (type stripping);
// the container image ships only dist/, built by `npm run build`.
//
// Plain JavaScript that any Node since 14 parses, so an older Node gets one clear line
// instead of a stack trace about the .ts extension it cannot load.
import { existsSync } from 'node:fs';

const major = Number(process.versions.node.split('.')[0]);
if (!(major >= 24)) {
  process.stderr.write(
    `hoist needs Node.js 24 or newer, but ${process.execPath} is ${process.version}; ` +
      'in the checkout run `npx hoist ...` (after `npm ci` it uses the pinned Node 24), or install Node 24.\n',
  );
  process.exit(1);
}

const source = new URL('../src/cli/main.ts', import.meta.url);
const entry = existsSync(source) ? source : new URL('../dist/cli/main.js', import.meta.url);
const { main } = await import(entry.href);
process.exitCode = await main(process.argv.slice(2));
