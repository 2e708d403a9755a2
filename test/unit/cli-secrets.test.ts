// --secrets-dir (issue 17.8): the Secrets a PromotionManifest names, from Secret manifests as
// kubectl writes them or from a mounted-volume layout, checked as the controller checks them;
// a manifest naming a Secret nobody supplied is an error naming the flag.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { UsageError } from '../../src/cli/command.ts';
import { runCredentials } from '../../src/cli/credentials.ts';
import { SecretsDir, secretKeyReader } from '../../src/cli/secrets.ts';
import { loadManifests } from '../../src/manifest/load.ts';

const tmp = mkdtempSync(join(tmpdir(), 'hoist-cli-secrets-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
// The machine's own Docker config never leaks in.
process.env.DOCKER_CONFIG = join(tmp, 'no-docker-config');
let n = 0;
const dir = () => {
  const d = join(tmp, `d${n++}`);
  mkdirSync(d);
  return d;
};

const dockerConfig = (host: string, user: string, password: string) =>
  JSON.stringify({ auths: { [host]: { auth: Buffer.from(`${user}:${password}`).toString('base64') } } });

/** What `kubectl create secret docker-registry NAME --dry-run=client -o yaml` writes. */
const secretYaml = (name: string, config: string, extra = '') => `apiVersion: v1
kind: Secret
metadata:
  name: ${name}
${extra}type: kubernetes.io/dockerconfigjson
data:
  .dockerconfigjson: ${Buffer.from(config).toString('base64')}
`;

async function manifest(namespace?: string, secret = 'prod-push'): Promise<Awaited<ReturnType<typeof loadManifests>>['specs']> {
  const file = join(tmp, `pm${n++}.yaml`);
  writeFileSync(file, `apiVersion: hoist.dev/v1alpha1
kind: PromotionManifest
metadata:
  name: bom
${namespace ? `  namespace: ${namespace}\n` : ''}spec:
  registries:
    - name: staging.example/k8s-staging-bom
      src: true
    - name: prod.example/images/bom
      credentials:
        secretRef:
          name: ${secret}
  images:
    - name: bom
      dmap:
        "sha256:${'a'.repeat(64)}": ["v0.6.0"]
`);
  const loaded = await loadManifests(file);
  assert.deepEqual(loaded.errors, []);
  return loaded.specs;
}

const quiet = () => {};

test('a Secret manifest in --secrets-dir gives the registry its credentials', async () => {
  const d = dir();
  writeFileSync(join(d, 'prod-push.yaml'), secretYaml('prod-push', dockerConfig('prod.example', 'robot', 's3cret')));
  const credentials = await runCredentials({ secretsDir: d }, await manifest('releng'), quiet);
  assert.deepEqual(credentials.get('prod.example'), { kind: 'basic', username: 'robot', password: 's3cret' });
  assert.deepEqual(credentials.get('staging.example'), { kind: 'anonymous' });
});

test('any file name, a List, stringData, and the namespace rule of the controller', async () => {
  const d = dir();
  const other = secretYaml('prod-push', dockerConfig('prod.example', 'other-ns', 'x'), '  namespace: elsewhere\n');
  const list = `apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Secret\n  metadata: { name: prod-push, namespace: releng }\n  type: kubernetes.io/dockerconfigjson\n  stringData:\n    .dockerconfigjson: '${dockerConfig('prod.example', 'from-list', 'y')}'\n`;
  writeFileSync(join(d, 'all-secrets.yml'), `${other}---\n${list}`);
  writeFileSync(join(d, 'notes.txt'), 'not read');
  const credentials = await runCredentials({ secretsDir: d }, await manifest('releng'), quiet);
  assert.deepEqual(credentials.get('prod.example'), { kind: 'basic', username: 'from-list', password: 'y' });
  // Only the Secret of another namespace: not this manifest's.
  const lonely = dir();
  writeFileSync(join(lonely, 's.yaml'), other);
  await assert.rejects(runCredentials({ secretsDir: lonely }, await manifest('releng'), quiet), (e: Error) => e instanceof UsageError && /Secret "prod-push", which is not in --secrets-dir/.test(e.message));
});

test('a mounted Secret volume layout: DIR/<name>/.dockerconfigjson, the kubelet\'s ..data entries ignored', async () => {
  const d = dir();
  mkdirSync(join(d, 'prod-push', '..2026_11_28'), { recursive: true });
  writeFileSync(join(d, 'prod-push', '.dockerconfigjson'), dockerConfig('prod.example', 'mounted', 'z'));
  writeFileSync(join(d, 'prod-push', '..data'), 'ignored');
  const credentials = await runCredentials({ secretsDir: d }, await manifest(), quiet);
  assert.deepEqual(credentials.get('prod.example'), { kind: 'basic', username: 'mounted', password: 'z' });
  const key = await secretKeyReader(new SecretsDir(d))('prod-push', '.dockerconfigjson');
  assert.match(key.toString(), /"prod\.example"/);
});

test('without --secrets-dir the error says which flag supplies the Secret; --registry-config instead is noted', async () => {
  await assert.rejects(runCredentials({}, await manifest('releng'), quiet), (e: Error) => {
    assert.ok(e instanceof UsageError);
    assert.match(e.message, /registry "prod\.example\/images\/bom" takes its credentials from Secret "prod-push" \(credentials\.secretRef\); pass --secrets-dir DIR holding a Secret manifest named prod-push in DIR\/\*\.yaml \(kubectl get secret prod-push -o yaml > DIR\/prod-push\.yaml\), or DIR\/prod-push\/<key> files, or --registry-config FILE with an entry for prod\.example \(--registry-config \/dev\/null reads anonymously/);
    return true;
  });
  const config = join(tmp, 'config.json');
  writeFileSync(config, dockerConfig('prod.example', 'docker', 'cfg'));
  const notes: string[] = [];
  const credentials = await runCredentials({ registryConfig: config }, await manifest(), (l) => notes.push(l));
  assert.deepEqual(credentials.get('prod.example'), { kind: 'basic', username: 'docker', password: 'cfg' });
  assert.match(notes.join('\n'), /credentials\.secretRef of 1 manifest\(s\) not read \(no --secrets-dir\); using --registry-config/);
  const anonymous = await runCredentials({ registryConfig: '/dev/null' }, await manifest(), quiet);
  assert.deepEqual(anonymous.get('prod.example'), { kind: 'anonymous' }, '--registry-config /dev/null: anonymous on purpose');
});

test('a Secret that cannot serve the registry is refused as the controller refuses it', async () => {
  const wrongType = dir();
  writeFileSync(join(wrongType, 's.yaml'), secretYaml('prod-push', dockerConfig('prod.example', 'a', 'b')).replace('type: kubernetes.io/dockerconfigjson', 'type: Opaque'));
  await assert.rejects(runCredentials({ secretsDir: wrongType }, await manifest(), quiet), /SecretWrongType: .*has type Opaque, want kubernetes\.io\/dockerconfigjson/);
  const otherHost = dir();
  writeFileSync(join(otherHost, 's.yaml'), secretYaml('prod-push', dockerConfig('elsewhere.example', 'a', 'b')));
  await assert.rejects(runCredentials({ secretsDir: otherHost }, await manifest(), quiet), /SecretHasNoEntryForRegistry: .*no auths entry for prod\.example \(it has: elsewhere\.example\)/);
  const twice = dir();
  writeFileSync(join(twice, 'a.yaml'), secretYaml('prod-push', dockerConfig('prod.example', 'a', 'b')));
  writeFileSync(join(twice, 'b.yaml'), secretYaml('prod-push', dockerConfig('prod.example', 'c', 'd')));
  await assert.rejects(runCredentials({ secretsDir: twice }, await manifest(), quiet), /Secret "prod-push" is defined more than once/);
  const notBase64 = dir();
  writeFileSync(join(notBase64, 's.yaml'), secretYaml('prod-push', '').replace(/\.dockerconfigjson: .*/, '.dockerconfigjson: "{not base64}"'));
  await assert.rejects(runCredentials({ secretsDir: notBase64 }, await manifest(), quiet), /data\.\.dockerconfigjson is not base64; put plain text under stringData instead/);
  await assert.rejects(runCredentials({ secretsDir: join(tmp, 'missing-dir') }, await manifest(), quiet), /--secrets-dir .*missing-dir: no such directory/);
});

test('two manifests giving one host different credentials are refused; kpromo manifests need no Secret', async () => {
  const d = dir();
  writeFileSync(join(d, 'a.yaml'), secretYaml('a', dockerConfig('prod.example', 'a', 'a')));
  writeFileSync(join(d, 'b.yaml'), secretYaml('b', dockerConfig('prod.example', 'b', 'b')));
  const specs = [...await manifest(undefined, 'a'), ...await manifest(undefined, 'b')];
  await assert.rejects(runCredentials({ secretsDir: d }, specs, quiet), /take different credentials for prod\.example; run them one at a time/);
  const plain = join(tmp, 'kpromo.yaml');
  writeFileSync(plain, `registries:\n- name: staging.example/s\n  src: true\n- name: prod.example/p\nimages:\n- name: app\n  dmap:\n    "sha256:${'a'.repeat(64)}": ["v1"]\n`);
  const config = join(tmp, 'config2.json');
  writeFileSync(config, dockerConfig('prod.example', 'docker', 'cfg'));
  const credentials = await runCredentials({ registryConfig: config }, (await loadManifests(plain)).specs, quiet);
  assert.deepEqual(credentials.get('prod.example'), { kind: 'basic', username: 'docker', password: 'cfg' });
});
