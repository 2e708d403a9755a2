#!/usr/bin/env node
// Entry point. In a checkout Node 24 runs the TypeScript sources directly (type stripping);
// the container image ships only dist/, built by `npm run build`.
import { existsSync } from 'node:fs';

const source = new URL('../src/cli/main.ts', import.meta.url);
const entry = existsSync(source) ? source : new URL('../dist/cli/main.js', import.meta.url);
const { main } = await import(entry.href);
process.exitCode = await main(process.argv.slice(2));
