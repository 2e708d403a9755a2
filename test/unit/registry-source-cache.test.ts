// The source cache: one load per key, a bound on bytes with the oldest given up first, and a
// failed load forgotten so the next caller tries again.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SourceCache } from '../../src/registry/source-cache.ts';

test('loads once per key while it fits, and gives up the oldest entries past the bound', async () => {
  const cache = new SourceCache({ maxBytes: 100, maxBlobBytes: 60 });
  let loads = 0;
  const load = (n: number) => async () => { loads += 1; return Buffer.alloc(n); };
  await cache.get('a', 40, load(40));
  await cache.get('a', 40, load(40));
  assert.equal(loads, 1);
  await cache.get('b', 40, load(40));
  await cache.get('c', 40, load(40)); // 120 bytes: 'a' goes
  await cache.get('b', 40, load(40));
  assert.equal(loads, 3);
  await cache.get('a', 40, load(40));
  assert.equal(loads, 4, 'the oldest entry was given up');
  assert.equal(cache.maxBlobBytes, 60);
});

test('a failed load is not cached', async () => {
  const cache = new SourceCache();
  await assert.rejects(cache.get('x', 1, async () => { throw new Error('boom'); }), /boom/);
  await new Promise((r) => setImmediate(r));
  assert.equal((await cache.get('x', 1, async () => Buffer.from('ok'))).toString(), 'ok');
});
