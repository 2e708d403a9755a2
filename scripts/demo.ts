// `npm run demo`: Hoist's main job on local defaults. Starts a staging registry and two
// production registries on loopback, seeds staging with sample images, writes a kpromo
// manifest naming them, then runs `hoist plan` and `hoist promote --confirm` exactly as a user
// would, checks the digests arrived intact, and shows a rerun has nothing left to do.
// Pass --keep-running to leave the registries up until Ctrl-C.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../src/cli/main.ts';
import { RegistryClient } from '../src/registry/index.ts';
import { buildImage, buildIndex, pushImage } from '../test/support/images.ts';
import { startRegistry } from '../test/support/registry.ts';

const keep = process.argv.includes('--keep-running');
const say = (line = '') => process.stdout.write(`${line}\n`);
const bold = process.stdout.isTTY ? (text: string) => `\x1b[1m${text}\x1b[0m` : (text: string) => text;
const step = (line: string) => say(`\n${bold(`==> ${line}`)}`);
const io = { out: process.stdout, err: process.stderr };

step('Starting a staging and two production registries (docker-registry, loopback)');
const [staging, eu, us] = await Promise.all([startRegistry(), startRegistry(), startRegistry()]);
const dir = mkdtempSync(join(tmpdir(), 'hoist-demo-'));
let failed = false;
try {
  say(`  staging     ${staging.url}`);
  say(`  prod (eu)   ${eu.url}`);
  say(`  prod (us)   ${us.url}`);

  step('Seeding staging with sample images');
  const samples = [
    { name: 'hello', image: buildIndex({ format: 'oci', layers: [400_000, 100_000] }), tags: ['v1.0.0'] },
    { name: 'tools/kubectl-plugin', image: buildImage({ layers: [800_000, 200_000, 50_000] }), tags: ['v0.3.1', 'v0.3'] },
    { name: 'legacy', image: buildIndex({ format: 'docker' }), tags: ['2.4.0'] },
  ];
  for (const { name, image, tags } of samples) {
    await pushImage(staging, `staging/${name}`, image, ['staging-latest']);
    say(`  ${staging.host}/staging/${name}@${image.digest}  -> ${tags.join(', ')}`);
  }

  step('A kpromo manifest, in the format the Kubernetes image promoter reads');
  const manifest = join(dir, 'promoter-manifest.yaml');
  writeFileSync(manifest, [
    'registries:',
    `- name: ${staging.host}/staging`,
    '  src: true',
    `- name: ${eu.host}/releases`,
    `- name: ${us.host}/releases`,
    'images:',
    ...samples.flatMap(({ name, image, tags }) => [`- name: ${name}`, '  dmap:', `    "${image.digest}": [${tags.map((t) => `"${t}"`).join(', ')}]`]),
    '',
  ].join('\n'));
  say(readFileSync(manifest, 'utf8').trimEnd().replace(/^/gm, '  '));

  step(`hoist plan --manifest ${manifest}`);
  await main(['plan', '--manifest', manifest], io);

  step(`hoist promote --manifest ${manifest} --confirm`);
  const code = await main(['promote', '--manifest', manifest, '--confirm'], io);
  if (code !== 0) throw new Error(`hoist promote exited ${code}`);

  step('Checking every promoted digest in production');
  const client = new RegistryClient();
  for (const prod of [eu, us]) {
    for (const { name, image, tags } of samples) {
      for (const tag of tags) {
        const head = await client.headManifest({ host: prod.host, name: `releases/${name}` }, tag);
        if (head?.digest !== image.digest) throw new Error(`${prod.host}/releases/${name}:${tag} is ${head?.digest ?? 'missing'}, expected ${image.digest}`);
        say(`  ok  ${prod.host}/releases/${name}:${tag}  ${image.digest}`);
      }
    }
  }
  await client.close();

  step('Running the promotion again: everything is already there, nothing is written');
  await main(['promote', '--manifest', manifest, '--confirm', '--quiet'], io);

  if (keep) {
    say('\nThe registries stay up until Ctrl-C; try for example:');
    say(`  crane ls --insecure ${eu.host}/releases/hello`);
    await new Promise<void>((resolve) => { process.once('SIGINT', resolve); process.once('SIGTERM', resolve); });
  }
} catch (error) {
  failed = true;
  process.stderr.write(`demo failed: ${(error as Error).message}\n`);
} finally {
  step('Stopping the registries');
  await Promise.allSettled([staging.stop(), eu.stop(), us.stop()]);
  rmSync(dir, { recursive: true, force: true });
}
process.exitCode = failed ? 1 : 0;
