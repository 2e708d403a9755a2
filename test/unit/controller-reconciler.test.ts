// The reconciler with fake status, events and cache: a run that fails for a transient reason
// goes back to the queue with backoff (an error result) and counts as Reconciling, not Stalled;
// a manifest deleted during its run leaves no record behind; signing and public-key Secrets are
// in the set the Secret watch wakes manifests for; durations timers cannot honour are refused.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { referencedSecrets } from '../../src/controller/credentials.ts';
import { Reconciler, type ManifestObject } from '../../src/controller/reconciler.ts';
import { acceptSpec, toModel } from '../../src/controller/spec.ts';
import type { StatusWriter } from '../../src/controller/status.ts';
import type { PromotionManifestSpec } from '../../src/api/promotion-manifest.ts';
import { ControllerMetrics } from '../../src/observability/metrics.ts';
import { createLogger } from '../../src/observability/logger.ts';

const quiet = createLogger({ level: 'error', destination: { write: () => {} } });
const digest = `sha256:${'a'.repeat(64)}`;

function manifest(spec: Record<string, unknown>): ManifestObject {
  return { metadata: { name: 'pm', namespace: 'ns', uid: 'uid-1', generation: 1 }, spec: spec as ManifestObject['spec'] };
}

function harness(obj: ManifestObject, onStatusUpdate?: (n: number) => void) {
  const store = new Map<string, ManifestObject>([['ns/pm', obj]]);
  const statuses: unknown[] = [];
  let updates = 0;
  const status = {
    async update(_ns: string, _name: string, fn: (stored: ManifestObject) => unknown) {
      updates += 1;
      const stored = store.get('ns/pm');
      if (stored) statuses.push(fn(stored));
      onStatusUpdate?.(updates);
    },
  } as unknown as StatusWriter;
  const metrics = new ControllerMetrics();
  const reconciler = new Reconciler({
    get: (key) => store.get(key),
    secrets: { read: async () => undefined },
    status,
    events: { record: async () => {} } as never,
    metrics,
    logger: quiet,
    // Nothing listens on port 1: every registry request fails at once, without retries.
    registry: { retry: { attempts: 1, minDelayMs: 1, maxDelayMs: 1 }, timeouts: { connectMs: 2000, headersMs: 2000, bodyIdleMs: 2000 } },
  });
  const gauge = async () => {
    const values = (await metrics.manifests.get()).values;
    return Object.fromEntries(values.map((v) => [String(v.labels.condition), v.value]));
  };
  return { store, statuses, reconciler, gauge };
}

const unreachable = {
  interval: '1h',
  registries: [{ name: '127.0.0.1:1/staging', src: true }, { name: '127.0.0.1:1/prod' }],
  images: [{ name: 'app', dmap: { [digest]: ['v1'] } }],
};

test('a run that failed for a transient reason is retried with backoff and counted as Reconciling', async () => {
  const { reconciler, statuses, gauge } = harness(manifest(unreachable));
  const result = await reconciler.reconcile('ns/pm', new AbortController().signal);
  const last = statuses.at(-1) as { conditions: { type: string; status: string; reason: string }[] };
  const reconciling = last.conditions.find((c) => c.type === 'Reconciling');
  assert.equal(reconciling?.status, 'True', 'status says it is retrying');
  assert.equal(last.conditions.find((c) => c.type === 'Stalled'), undefined);
  assert.equal(result.kind, 'error', `the queue must back off and retry, got ${JSON.stringify(result)}`);
  const counts = await gauge();
  assert.equal(counts.Reconciling, 1);
  assert.equal(counts.Stalled, 0);
});

test('a manifest deleted while it runs leaves no record (gauge and Secret index)', async () => {
  const spec = { interval: '1h', registries: [{ name: 'reg.example/staging', src: true, credentials: { secretRef: { name: 'creds' } } }, { name: 'prod.example/x' }], images: [{ name: 'app', dmap: { [digest]: ['v1'] } }] };
  let deleteAt = 0;
  const h = harness(manifest(spec), (n) => { if (n === deleteAt) h.store.delete('ns/pm'); });
  deleteAt = 1; // deleted right after the run started (Reconciling written)
  const result = await h.reconciler.reconcile('ns/pm', new AbortController().signal);
  assert.notEqual(result.kind, 'aborted');
  assert.deepEqual(h.reconciler.usersOfSecret('ns', 'creds'), [], 'no record left for the deleted manifest');
  const counts = await h.gauge();
  assert.equal((counts.Reconciling ?? 0) + (counts.Stalled ?? 0) + (counts.Ready ?? 0), 0);
});

test('signing-key and public-key Secrets are referenced, so their changes wake the manifest', () => {
  const spec = acceptSpec({
    ...unreachable,
    signing: { key: { secretRef: { name: 'signing-key' } } },
    verification: { signatures: { mode: 'Enforce', keys: [{ secretRef: { name: 'pub-a' } }, { secretRef: { name: 'pub-b' } }] } },
  }, undefined);
  assert.deepEqual(referencedSecrets(spec.model, spec.spec).sort(), ['pub-a', 'pub-b', 'signing-key']);
  assert.deepEqual(referencedSecrets(toModel(spec.spec)), [], 'registries without credentials name none');
});

test('spec.interval and spec.timeout beyond 24 days are refused (timers would fire at once)', () => {
  const refuse = (patch: Record<string, string>, field: string) => {
    assert.throws(() => acceptSpec({ ...unreachable, ...patch } as Partial<PromotionManifestSpec>, undefined), (error: Error & { reason?: string; stalled?: boolean }) => {
      assert.equal(error.reason, 'InvalidSpec');
      assert.equal(error.stalled, true);
      assert.match(error.message, new RegExp(`${field}.*576h`));
      return true;
    });
  };
  refuse({ interval: '597h' }, 'spec.interval');
  refuse({ interval: '1000000h' }, 'spec.interval');
  refuse({ timeout: '600h' }, 'spec.timeout');
  assert.equal(acceptSpec({ ...unreachable, interval: '576h', timeout: '576h' }, undefined).intervalMs, 576 * 3600_000);
});
