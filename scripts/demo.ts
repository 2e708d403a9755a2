// `npm run demo`: Hoist's main job on local defaults. For now it brings up the test bed — a
// staging and a production registry and a Kubernetes API server, all on loopback — pushes a
// sample multi-arch image into staging and prints what is running. Later work turns this into
// a full promotion. Pass --keep-running to leave everything up until Ctrl-C.
import { buildIndex, pushImage } from '../test/support/images.ts';
import { startKube } from '../test/support/kube.ts';
import { startRegistry } from '../test/support/registry.ts';

const keep = process.argv.includes('--keep-running');
const say = (line: string) => process.stdout.write(`${line}\n`);

say('hoist demo: starting the test bed on loopback');
const [staging, production, kube] = await Promise.all([startRegistry(), startRegistry(), startKube()]);
const stop = async () => { await Promise.allSettled([staging.stop(), production.stop(), kube.stop()]); };
try {
  const image = buildIndex({ format: 'oci' });
  await pushImage(staging, 'demo/hello', image, ['v1.0.0']);
  say('');
  say(`  staging registry     ${staging.url}   (docker-registry, anonymous)`);
  say(`  production registry  ${production.url}   (docker-registry, anonymous)`);
  say(`  kube-apiserver       ${kube.server}   kubeconfig: ${kube.kubeconfig}`);
  say(`  sample image         ${staging.host}/demo/hello:v1.0.0@${image.digest}  (index, ${image.children.length} platforms)`);
  say('');
  if (keep) {
    say('Everything stays up until Ctrl-C.');
    await new Promise<void>((resolve) => { process.once('SIGINT', resolve); process.once('SIGTERM', resolve); });
  }
} finally {
  say('hoist demo: stopping the test bed');
  await stop();
}
