// The inventory kept between runs (src/registry/inventory.ts, inventory-file.ts): what a list
// no longer shows is forgotten, the whole thing stays within its bound, and its file survives
// a round trip while a file that is not an inventory is refused with a reason.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Inventory, loadInventory, saveInventory } from '../../src/registry/index.ts';

const digest = (n: number) => `sha256:${n.toString(16).padStart(64, '0')}`;

test('a tag a list no longer shows is forgotten; untagged digests and marks stay', () => {
  const inventory = new Inventory();
  inventory.setTag('r.example/app', 'v1', digest(1), 10);
  inventory.setTag('r.example/app', 'v2', digest(2), 10);
  inventory.setSeen('r.example/app', digest(3), 10);
  inventory.setMark('r.example/app', digest(1), { key: 'k', at: 10 });
  inventory.listed('r.example/app', (tag) => tag === 'v2');
  assert.equal(inventory.tag('r.example/app', 'v1'), undefined);
  assert.deepEqual(inventory.tag('r.example/app', 'v2'), { digest: digest(2), at: 10 });
  assert.equal(inventory.seen('r.example/app', digest(3)), 10);
  assert.equal(inventory.mark('r.example/app', digest(1))?.key, 'k');
  assert.equal(inventory.size, 3);
});

test('past its bound the repositories listed longest ago are forgotten; 0 keeps nothing', () => {
  const inventory = new Inventory({ maxEntries: 4 });
  for (const repo of ['a', 'b', 'c']) {
    inventory.setTag(`r.example/${repo}`, 'v1', digest(1));
    inventory.setTag(`r.example/${repo}`, 'v2', digest(2));
  }
  assert.ok(inventory.size <= 4);
  assert.equal(inventory.tag('r.example/a', 'v1'), undefined, 'the oldest repository went first');
  assert.ok(inventory.tag('r.example/c', 'v2'));
  const none = new Inventory({ maxEntries: 0 });
  none.setTag('r.example/a', 'v1', digest(1));
  none.setMark('r.example/a', digest(1), { key: 'k', at: 1 });
  assert.equal(none.size, 0);
});

test('its file: a round trip keeps everything; what is not an inventory is not used, with the reason', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hoist-inventory-'));
  try {
    const inventory = new Inventory();
    inventory.setTag('r.example/app', 'v1', digest(1), 100);
    inventory.setSeen('r.example/app', digest(2), 200);
    inventory.setMark('r.example/app', digest(1), { key: 'signer', at: 300, attestation: digest(9), index: true });
    inventory.setChildren(digest(1), [digest(5), digest(6)]);
    inventory.setReferrersApi('r.example', false);
    const file = join(dir, 'inventory');
    saveInventory(file, inventory);
    const { inventory: back, problem } = loadInventory(file);
    assert.equal(problem, undefined);
    assert.deepEqual(back.tag('r.example/app', 'v1'), { digest: digest(1), at: 100 });
    assert.equal(back.seen('r.example/app', digest(2)), 200);
    assert.deepEqual(back.mark('r.example/app', digest(1)), { key: 'signer', at: 300, attestation: digest(9), index: true });
    assert.deepEqual(back.children(digest(1)), [digest(5), digest(6)]);
    assert.equal(back.referrersApi('r.example'), false);

    assert.deepEqual(loadInventory(join(dir, 'missing')).problem, undefined, 'no file yet: an empty inventory, no warning');
    for (const [text, why] of [
      ['not json', /a line is not JSON/],
      ['{"version":1}', /not a version 2 inventory/],
      ['{"version":2,"digests":["sha256:zz"],"keys":[],"children":[],"referrersApi":{}}', /digests are not all sha256 digests/],
      [`{"version":2,"digests":[],"keys":[],"children":[],"referrersApi":{}}\n{"r":"r.example/app","t":[["v1",7,1]]}`, /digest index 7 is out of range/],
    ] as const) {
      writeFileSync(file, text);
      const loaded = loadInventory(file);
      assert.match(loaded.problem ?? '', why);
      assert.equal(loaded.inventory.size, 0, 'nothing of a refused file is used');
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
