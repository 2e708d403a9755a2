// The test bed itself: real registries in each auth mode, the image builder, the interop tools
// and a real API server. Everything later tests stand on is proven here first.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { buildImage, buildIndex, pushImage } from '../support/images.ts';
import { startKube, type TestKube } from '../support/kube.ts';
import { startRegistry, type TestRegistry } from '../support/registry.ts';
import { runTool } from '../support/testbed.ts';

const crane = async (...args: string[]) => (await runTool('crane', args)).trim();
const skopeo = (...args: string[]) => runTool('skopeo', args);

describe('registries', () => {
  const registries: TestRegistry[] = [];
  after(() => Promise.all(registries.map((r) => r.stop())));

  test('an anonymous registry takes a pushed image and index; crane and skopeo read the same digests', async () => {
    const reg = await startRegistry();
    registries.push(reg);
    const image = buildImage({ layers: [2048, 4096] });
    await pushImage(reg, 'team/app', image, ['v1']);
    assert.equal(await crane('digest', '--insecure', `${reg.host}/team/app:v1`), image.digest);
    const index = buildIndex({ format: 'docker' });
    await pushImage(reg, 'team/multi', index, ['v2']);
    assert.equal(await crane('digest', '--insecure', `${reg.host}/team/multi:v2`), index.digest);
    const raw = await skopeo('inspect', '--raw', '--tls-verify=false', `docker://${reg.host}/team/multi:v2`);
    assert.equal(raw, index.bytes.toString('utf8'));
  });

  test('a basic-auth registry refuses anonymous reads and accepts its user', async () => {
    const reg = await startRegistry({ kind: 'basic', username: 'alice', password: 's3cret' });
    registries.push(reg);
    assert.equal((await fetch(`${reg.url}/v2/`)).status, 401);
    const image = buildImage();
    await pushImage(reg, 'secure/app', image, ['v1']);
    const out = await skopeo('inspect', '--raw', '--tls-verify=false', '--creds', 'alice:s3cret', `docker://${reg.host}/secure/app:v1`);
    assert.equal(out, image.bytes.toString('utf8'));
  });

  test('a token-auth registry sends clients to its token server and honours the token', async () => {
    const reg = await startRegistry({ kind: 'token', username: 'bob', password: 'tok3n' });
    registries.push(reg);
    const challenge = await fetch(`${reg.url}/v2/`);
    assert.equal(challenge.status, 401);
    assert.match(challenge.headers.get('www-authenticate') ?? '', /^Bearer realm="http:\/\/127\.0\.0\.1:\d+\/token",service="hoist-test-registry"/);
    const image = buildImage();
    await pushImage(reg, 'tok/app', image, ['v1']);
    const out = await skopeo('inspect', '--raw', '--tls-verify=false', '--creds', 'bob:tok3n', `docker://${reg.host}/tok/app:v1`);
    assert.equal(out, image.bytes.toString('utf8'));
    assert.ok(reg.tokenServer!.requests.some((r) => r.user === 'bob' && r.scopes.includes('repository:tok/app:pull')));
  });
});

describe('interop tools', () => {
  test('cosign is installed and runs', async () => {
    assert.match(await runTool('cosign', ['version']), /GitVersion:\s+v3\./);
  });
});

describe('kubernetes', () => {
  let kube: TestKube;
  before(async () => { kube = await startKube(); });
  after(() => kube?.stop());

  test('kube-apiserver with etcd serves the API, and kubectl of the same version talks to it', () => {
    const version = JSON.parse(kube.kubectl(['version', '--output=json'])) as { serverVersion: { gitVersion: string } };
    assert.match(version.serverVersion.gitVersion, /^v1\.34\./);
    kube.kubectl(['create', 'namespace', 'hoist-test']);
    assert.match(kube.kubectl(['get', 'namespace', 'hoist-test', '-o', 'name']), /namespace\/hoist-test/);
  });
});
