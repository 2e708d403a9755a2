// Parsing what registries send and what users configure: challenges, dockerconfigjson,
// references, pagination links.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseChallenge, type RealmContext } from '../../src/registry/auth.ts';
import { nextPage } from '../../src/registry/client.ts';
import { parseDockerConfig } from '../../src/registry/credentials.ts';
import { parseReference } from '../../src/api/reference.ts';

test('WWW-Authenticate challenges', () => {
  assert.deepEqual(parseChallenge('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/ubuntu:pull"'), {
    scheme: 'bearer', realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:library/ubuntu:pull',
  });
  assert.deepEqual(parseChallenge('Basic realm="Registry Realm"'), { scheme: 'basic', realm: 'Registry Realm' });
  assert.deepEqual(parseChallenge('bearer realm=https://r/token, service=x'), { scheme: 'bearer', realm: 'https://r/token', service: 'x' });
  assert.equal(parseChallenge('Negotiate abc'), undefined);
  assert.equal(parseChallenge(undefined), undefined);
});

test('dockerconfigjson: auth, username/password, identitytoken, host spellings', () => {
  const store = parseDockerConfig(JSON.stringify({ auths: {
    'https://index.docker.io/v1/': { auth: Buffer.from('me:pa:ss').toString('base64') },
    'http://127.0.0.1:5000': { username: 'u', password: 'p' },
    'ghcr.io': { identitytoken: 'refresh-me' },
  } }));
  assert.deepEqual(store.get('registry-1.docker.io'), { kind: 'basic', username: 'me', password: 'pa:ss' });
  assert.deepEqual(store.get('127.0.0.1:5000'), { kind: 'basic', username: 'u', password: 'p' });
  assert.deepEqual(store.get('ghcr.io'), { kind: 'identityToken', token: 'refresh-me' });
  assert.deepEqual(store.get('quay.io'), { kind: 'anonymous' });
});

test('dockerconfigjson errors name the entry, never the secret', () => {
  assert.throws(() => parseDockerConfig('{'), /not valid JSON/);
  // V8's JSON errors quote the text around the fault: a malformed password must not show.
  assert.throws(() => parseDockerConfig('{"auths":{"r":{"password":hunter2secret}}}'), (e: Error) => /not valid JSON/.test(e.message) && !e.message.includes('hunter2'));
  assert.throws(() => parseDockerConfig('{"auths": []}'), /"auths" must be an object/);
  assert.throws(() => parseDockerConfig(JSON.stringify({ auths: { r: { auth: Buffer.from('nocolon').toString('base64') } } })), /auths\["r"\]\.auth must be base64/);
  assert.throws(() => parseDockerConfig(JSON.stringify({ auths: { r: { username: 'u' } } })), (e: Error) => /username or a password but not both/.test(e.message));
  assert.throws(() => parseDockerConfig(JSON.stringify({ auths: { r: { password: 'hunter2' } } })), (e: Error) => !e.message.includes('hunter2'));
});

test('image references', () => {
  assert.deepEqual(parseReference('registry.k8s.io/kube-apiserver:v1.34.0'), { host: 'registry.k8s.io', name: 'kube-apiserver', tag: 'v1.34.0' });
  const digest = `sha256:${'a'.repeat(64)}`;
  assert.deepEqual(parseReference(`127.0.0.1:5000/a/b:t@${digest}`), { host: '127.0.0.1:5000', name: 'a/b', tag: 't', digest });
  assert.deepEqual(parseReference('localhost:5000/app'), { host: 'localhost:5000', name: 'app' });
  assert.throws(() => parseReference('app'), /expected host\/repository/);
  assert.throws(() => parseReference('r.io/App'), /lowercase/);
  assert.throws(() => parseReference('r.io/app@sha256:12'), /digest must look like/);
});

test('Link pagination headers', () => {
  assert.equal(nextPage('</v2/a/tags/list?n=10&last=t09>; rel="next"'), '/v2/a/tags/list?n=10&last=t09');
  assert.equal(nextPage('<https://r.io/v2/a/tags/list?last=x>; rel=next'), 'https://r.io/v2/a/tags/list?last=x');
  assert.equal(nextPage(undefined), undefined);
  assert.equal(nextPage('</x>; rel="prev"'), undefined);
});

test('Link headers: several links in one header, or several headers', () => {
  assert.equal(nextPage('</v2/a/tags/list?last=a>; rel="prev", </v2/a/tags/list?last=z>; rel="next"'), '/v2/a/tags/list?last=z');
  assert.equal(nextPage(['</x?p=1>; rel="prev"', '</x?p=3>; rel="next"']), '/x?p=3');
});

test('token realms: which may be used, and which may receive credentials', async () => {
  const { credentialDomain, refuseRealm } = await import('../../src/registry/auth.ts');
  assert.equal(credentialDomain('registry-1.docker.io'), 'docker.io');
  assert.equal(credentialDomain('ghcr.io'), 'ghcr.io');
  assert.equal(credentialDomain('us-docker.pkg.dev'), 'pkg.dev');
  assert.equal(credentialDomain('127.0.0.1:5000'), '127.0.0.1');
  assert.equal(credentialDomain('[::1]:5000'), '::1');
  assert.equal(credentialDomain('localhost:5000'), 'localhost');
  const https: RealmContext = { registrySecure: true, plainHttpHosts: [], trustedRealmHosts: [] };
  const http: RealmContext = { registrySecure: false, plainHttpHosts: ['lan.example:5000'], trustedRealmHosts: [] };
  const refuse = (realm: string, host: string, creds: boolean, ctx = https) => refuseRealm(new URL(realm), host, creds, ctx);
  // Docker Hub, GHCR, GitLab: realms inside the registry's domain.
  assert.equal(refuse('https://auth.docker.io/token', 'registry-1.docker.io', true), undefined);
  assert.equal(refuse('https://ghcr.io/token', 'ghcr.io', true), undefined);
  assert.equal(refuse('https://gitlab.com/jwt/auth', 'registry.gitlab.com', true), undefined);
  assert.equal(refuse('https://127.0.0.1:9999/token', '127.0.0.1:5000', true), undefined, 'another port of the same address');
  // Elsewhere: refused with credentials, allowed without.
  assert.match(refuse('https://evil.example/token', 'ghcr.io', true)!, /outside the registry's domain ghcr\.io/);
  assert.match(refuse('https://ghcr.io.evil.example/token', 'ghcr.io', true)!, /outside/);
  assert.match(refuse('https://notghcr.io/token', 'ghcr.io', true)!, /outside/);
  assert.match(refuse('https://127.0.0.2/token', '127.0.0.1:5000', true)!, /outside/);
  assert.equal(refuse('https://evil.example/token', 'ghcr.io', false), undefined);
  assert.equal(refuseRealm(new URL('https://auth.example/token'), 'reg.other.example', true, { ...https, trustedRealmHosts: ['auth.example'] }), undefined);
  // Plain http: never for an https registry, with or without credentials.
  assert.match(refuse('http://ghcr.io/token', 'ghcr.io', false)!, /plain http while the registry is https/);
  assert.equal(refuse('http://127.0.0.1:9000/token', '127.0.0.1:5000', true, http), undefined);
  assert.equal(refuse('http://lan.example/token', 'lan.example:5000', true, http), undefined);
  assert.match(refuse('http://other.example/token', 'lan.example:5000', false, http)!, /not allowed as insecure/);
  assert.match(refuse('ftp://ghcr.io/token', 'ghcr.io', false)!, /scheme/);
  assert.match(refuse('https://user:pw@ghcr.io/token', 'ghcr.io', false)!, /user information/);
});
