// The Dockerfile's promises, read from the file (Docker is not available to the tests):
// multi-stage, Node 24, production dependencies only, non-root 65532, nothing but /tmp written
// at run time, and `hoist controller` as the default command.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';

interface Instruction { op: string; args: string; stage: string }

/** Dockerfile instructions with line continuations joined and comments dropped. */
function instructions(text: string): Instruction[] {
  const joined = text.replace(/\\\n/g, ' ').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  const out: Instruction[] = [];
  let stage = '';
  for (const line of joined) {
    const [op = '', ...rest] = line.split(/\s+/);
    const args = rest.join(' ');
    if (op.toUpperCase() === 'FROM') stage = /\bAS\s+(\S+)/i.exec(args)?.[1] ?? '';
    out.push({ op: op.toUpperCase(), args, stage });
  }
  return out;
}

const dockerfile = instructions(readFileSync('Dockerfile', 'utf8'));
const runtime = dockerfile.filter((i) => i.stage === 'runtime');
const arg = (name: string) => /=(.*)$/.exec(dockerfile.find((i) => i.op === 'ARG' && i.args.startsWith(`${name}=`))?.args ?? '')?.[1];

test('multi-stage: build, production dependencies, runtime last', () => {
  const stages = dockerfile.filter((i) => i.op === 'FROM').map((i) => i.stage);
  assert.deepEqual(stages, ['build', 'deps', 'runtime']);
  assert.match(arg('NODE_IMAGE') ?? '', /^node:24-[\w-]*slim$/);
  for (const from of dockerfile.filter((i) => i.op === 'FROM')) assert.match(from.args, /^\$\{NODE_IMAGE\} AS /);
});

test('the build stage runs npm ci and npm run build; the deps stage installs production dependencies only', () => {
  const build = dockerfile.filter((i) => i.stage === 'build' && i.op === 'RUN').map((i) => i.args);
  assert.ok(build.includes('npm ci'), build.join(' | '));
  assert.ok(build.includes('npm run build'));
  const deps = dockerfile.filter((i) => i.stage === 'deps' && i.op === 'RUN').map((i) => i.args).join(' ');
  assert.match(deps, /npm ci --omit=dev\b/);
});

test('the runtime stage copies dist, production node_modules, package.json and bin/hoist.js only', () => {
  const copies = runtime.filter((i) => i.op === 'COPY').map((i) => i.args.replace(/--chown=\S+\s*/, ''));
  assert.deepEqual(copies, [
    '--from=deps /app/node_modules ./node_modules',
    '--from=build /src/dist ./dist',
    'package.json ./',
    'bin/hoist.js ./bin/hoist.js',
  ]);
  assert.match(runtime.filter((i) => i.op === 'RUN').map((i) => i.args).join(' '), /rm -rf .*\/usr\/local\/bin\/npm/);
});

test('runs as 65532, read-only-root friendly, with hoist controller as the default', () => {
  const users = runtime.filter((i) => i.op === 'USER');
  assert.equal(users.at(-1)?.args, '65532:65532');
  const afterUser = runtime.slice(runtime.indexOf(users.at(-1)!));
  assert.equal(afterUser.filter((i) => i.op === 'RUN').length, 0, 'nothing runs as the app user at build time');
  assert.match(runtime.find((i) => i.op === 'ENV')?.args ?? '', /HOME=\/tmp/);
  assert.equal(runtime.find((i) => i.op === 'WORKDIR')?.args, '/app');
  assert.deepEqual(JSON.parse(runtime.find((i) => i.op === 'ENTRYPOINT')!.args), ['node', '/app/bin/hoist.js']);
  assert.deepEqual(JSON.parse(runtime.find((i) => i.op === 'CMD')!.args), ['controller']);
  assert.equal(dockerfile.at(-1)?.op, 'CMD');
});

test('bin/hoist.js falls back to dist/ when src/ is absent, as in the image', () => {
  const bin = readFileSync('bin/hoist.js', 'utf8');
  assert.match(bin, /\.\.\/dist\/cli\/main\.js/);
  const build = JSON.parse(readFileSync('tsconfig.build.json', 'utf8'));
  assert.equal(build.compilerOptions.outDir, 'dist');
  assert.equal(build.compilerOptions.rootDir, 'src');
});

test('.dockerignore sends only what the build needs', () => {
  const lines = readFileSync('.dockerignore', 'utf8').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  assert.equal(lines[0], '*');
  const included = lines.filter((l) => l.startsWith('!')).map((l) => l.slice(1)).sort();
  assert.deepEqual(included, ['bin/hoist.js', 'package-lock.json', 'package.json', 'src/', 'tsconfig.build.json', 'tsconfig.json']);
  for (const copied of dockerfile.filter((i) => i.op === 'COPY' && !i.args.includes('--from=')).flatMap((i) => i.args.replace(/--chown=\S+\s*/, '').split(/\s+/).slice(0, -1))) {
    assert.ok(included.some((p) => copied === p || copied === p.replace(/\/$/, '')), `${copied} is copied but excluded by .dockerignore`);
  }
});
