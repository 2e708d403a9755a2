// Which addresses are internal, and the connect-time lookup that keeps a public registry's
// redirects out of them (the literal-address path is tested against a registry in
// test/integration/registry-hostile.test.ts).
import assert from 'node:assert/strict';
import type { LookupAddress } from 'node:dns';
import { test } from 'node:test';
import { InternalNetworks, internalAddressCode } from '../../src/registry/networks.ts';

test('internal addresses and names, as written', () => {
  const networks = new InternalNetworks();
  for (const host of ['127.0.0.1:5000', '10.0.0.1', '169.254.169.254', '172.31.255.255', '192.168.1.1:443', '100.64.0.1', '0.0.0.0', '[::1]:5000', '[fe80::1]', '[fd00:ec2::254]', '[::ffff:10.0.0.1]', 'localhost', 'localhost:5000', 'registry.localhost', 'metadata.google.internal']) {
    assert.equal(networks.literal(host), true, host);
  }
  for (const host of ['ghcr.io', 'registry.k8s.io:443', '8.8.8.8', '172.32.0.1', '[2001:db8::1]', '192.0.2.2:5000']) {
    assert.equal(networks.literal(host), false, host);
  }
  assert.throws(() => new InternalNetworks(['10.0.0.0/abc']), /not an address range/);
});

const fakeDns = (answers: Record<string, string[]>) =>
  (name: string, _options: unknown, callback: (error: NodeJS.ErrnoException | null, addresses: LookupAddress[]) => void) =>
    queueMicrotask(() => (answers[name]
      ? callback(null, answers[name].map((address) => ({ address, family: address.includes(':') ? 6 : 4 })))
      : callback(Object.assign(new Error('not found'), { code: 'ENOTFOUND' }), [])));

test('a name is internal when any of its addresses is', async () => {
  const networks = new InternalNetworks();
  const dns = fakeDns({ 'harbor.corp.example': ['10.1.2.3'], 'ghcr.io': ['140.82.121.33'], 'split.example': ['140.82.121.33', '192.168.0.5'] });
  assert.equal(await networks.resolved('harbor.corp.example:443', dns), true);
  assert.equal(await networks.resolved('split.example', dns), true);
  assert.equal(await networks.resolved('ghcr.io', dns), false);
  assert.equal(await networks.resolved('nowhere.example', dns), false, 'an unresolvable name is not known to be internal');
});

test('the connect lookup drops internal addresses and refuses a name with nothing else (DNS rebinding gains nothing)', async () => {
  const networks = new InternalNetworks();
  const lookup = networks.publicLookup(fakeDns({ 'cdn.example': ['169.254.169.254', '203.0.113.7'], 'rebind.example': ['169.254.169.254', 'fe80::1'] }));
  const ask = (name: string, all: boolean) => new Promise<{ error: NodeJS.ErrnoException | null; address: unknown; family?: number }>((resolve) =>
    lookup(name, { all } as never, (error, address, family) => resolve({ error, address, ...(family !== undefined && { family }) })));
  assert.deepEqual(await ask('cdn.example', true), { error: null, address: [{ address: '203.0.113.7', family: 4 }] });
  assert.deepEqual(await ask('cdn.example', false), { error: null, address: '203.0.113.7', family: 4 });
  const refused = await ask('rebind.example', true);
  assert.equal(refused.error?.code, internalAddressCode);
  assert.match(refused.error!.message, /rebind\.example resolves only to internal addresses \(169\.254\.169\.254, fe80::1\)/);
  assert.equal((await ask('nowhere.example', false)).error?.code, 'ENOTFOUND');
});

test('public-only pools are shared by equal sets of networks (the controller\'s runs), kept apart from the registry\'s own', async () => {
  const { Connections } = await import('../../src/registry/connections.ts');
  const connections = new Connections({ connectionsPerOrigin: 1, timeouts: { connectMs: 1000, headersMs: 1000, bodyIdleMs: 1000 } });
  try {
    const origin = 'https://cdn.example';
    const run1 = connections.pool(origin, new InternalNetworks());
    assert.equal(connections.pool(origin, new InternalNetworks()), run1, 'a later run finds the pool');
    assert.notEqual(connections.pool(origin), run1, 'the unrestricted pool is another');
    assert.notEqual(connections.pool(origin, new InternalNetworks(['10.0.0.0/8'])), run1, 'other networks, other pool');
  } finally {
    await connections.close();
  }
});
