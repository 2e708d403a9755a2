// deploy/argocd/health.lua, run by a real Lua interpreter (Debian's lua5.4, installed by
// scripts/testbed/install.sh) against recorded PromotionManifest statuses. Each fixture is first
// checked against the status schema in src/api, so the fixtures keep the shape the controller
// writes; the expected Argo CD status and message of every fixture are listed here.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { parse } from 'yaml';
import { promotionManifestSchema } from '../../src/api/promotion-manifest.ts';
import { signatureReplicationSchema } from '../../src/api/signature-replication.ts';
import { replicationFinishedStatus, replicationProgressStatus, replicationSuspendedStatus } from '../../src/controller/replication-status.ts';
import type { ReplicationReport } from '../../src/replication/types.ts';
import { argoHealth, type Health } from '../support/deploy.ts';

const healthScript = 'deploy/argocd/health.lua';
const fixtureDir = 'test/fixtures/statuses';

type Expected = Health;

const secretMissing = 'registry "us-central1-docker.pkg.dev/k8s-artifacts-prod/images/bom": Secret releng/prod-push does not exist; create it (kubectl create secret docker-registry prod-push -n releng ...)';
const imagesFailed = '1 of 3 edges failed (first: us-central1-docker.pkg.dev answered 429 Too Many Requests after 6 attempts); the others are done';

const expected: Record<string, Expected> = {
  'ready.yaml': { status: 'Healthy', message: 'Succeeded: 3 edges: 2 promoted, 1 already present' },
  'plan-ready.yaml': { status: 'Healthy', message: 'Planned: plan: 2 to promote, 1 already present (mode Plan writes nothing)' },
  'no-status.yaml': { status: 'Progressing', message: 'Waiting for the controller to report status' },
  'stale-generation.yaml': { status: 'Progressing', message: 'Waiting for the controller to observe generation 3' },
  'reconciling.json': { status: 'Progressing', message: 'Progressing: running generation 12 (Promote)' },
  'ready-false-progressing.yaml': { status: 'Progressing', message: 'Progressing: waiting for the first run to finish' },
  'stalled-secret-missing.yaml': { status: 'Degraded', message: `SecretNotFound: ${secretMissing}` },
  'tag-move.yaml': {
    status: 'Degraded',
    message: 'TagMoveRefused: 1 production tag(s) already point at another digest and are never moved: us-central1-docker.pkg.dev/k8s-artifacts-prod/images/bom/bom:v0.5 points at sha256:77aa0c1e5d9b; fix the dmap or the registry',
  },
  'digest-not-found.yaml': {
    status: 'Degraded',
    message: 'DigestNotFound: 1 source digest(s) do not exist in the staging registry: gcr.io/k8s-staging-bom/bom@sha256:8f4d5d7c2a1e; push them or remove them from the dmap',
  },
  'promote-failed-retrying.yaml': { status: 'Degraded', message: `PromoteFailed: ${imagesFailed}` },
  'suspended.yaml': { status: 'Suspended', message: 'Reconciliation is suspended (spec.suspend: true)' },
  'entries-refused.yaml': {
    status: 'Degraded',
    message: 'TagConflict: 2 dmap entries refused, the others run: spec.images[0].dmap["sha256:1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f809"][0]: tag "v0.5.0" of image "bom" is also given to sha256:2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a; a tag names one digest, so neither entry is promoted — remove the tag from one of them',
  },
  'promoting.yaml': { status: 'Progressing', message: 'Progressing: running generation 6 (Promote): Promote 1/1 edges' },
};

function load(name: string): unknown {
  const text = readFileSync(join(fixtureDir, name), 'utf8');
  return name.endsWith('.json') ? JSON.parse(text) : parse(text);
}

const fixtures = readdirSync(fixtureDir).filter((f) => /\.(ya?ml|json)$/.test(f)).sort();

describe('Argo CD health.lua for PromotionManifest', () => {
  test('every recorded status has an expectation, and every expectation a file', () => {
    assert.deepEqual(fixtures, Object.keys(expected).sort());
  });

  for (const name of fixtures) {
    test(`${name} has the shape of the PromotionManifest schema`, () => {
      const result = promotionManifestSchema.safeParse(load(name));
      assert.ok(result.success, `${name}: ${result.error?.message}`);
    });

    test(`${name} -> ${expected[name]?.status}`, async () => {
      assert.deepEqual(await argoHealth(load(name)), expected[name]);
    });
  }

  test('the four Argo CD outcomes are all covered by the fixtures', () => {
    assert.deepEqual([...new Set(Object.values(expected).map((e) => e.status))].sort(), ['Degraded', 'Healthy', 'Progressing', 'Suspended']);
  });

  test('Stalled wins over Reconciling, and suspend over everything', async () => {
    const base = load('reconciling.json') as any;
    const stalled = structuredClone(base);
    stalled.status.conditions.push({ type: 'Stalled', status: 'True', reason: 'InvalidSpec', message: 'two src registries', lastTransitionTime: '2026-11-25T07:58:02Z' });
    assert.deepEqual(await argoHealth(stalled), { status: 'Degraded', message: 'InvalidSpec: two src registries' });
    stalled.spec.suspend = true;
    assert.equal((await argoHealth(stalled)).status, 'Suspended');
  });

  test('an empty conditions list and a Ready=Unknown without Reconciling are Progressing', async () => {
    const base = load('ready.yaml') as any;
    assert.equal((await argoHealth({ ...base, status: { observedGeneration: 2, conditions: [] } })).status, 'Progressing');
    const unknown = structuredClone(base);
    unknown.status.conditions = [{ type: 'Ready', status: 'Unknown', reason: 'Progressing', message: 'first run', lastTransitionTime: '2026-11-25T07:41:10Z' }];
    assert.deepEqual(await argoHealth(unknown), { status: 'Progressing', message: 'Progressing: first run' });
  });

  test('a run in progress after a failure is Progressing again (Ready goes Unknown when a run starts)', async () => {
    const failed = load('promote-failed-retrying.yaml') as any;
    const rerun = structuredClone(failed);
    rerun.status.conditions = rerun.status.conditions.map((c: any) => c.type === 'Ready' ? { ...c, status: 'Unknown', reason: 'Progressing', message: 'reconciliation in progress' }
      : c.type === 'Reconciling' ? { ...c, reason: 'Progressing', message: 'running generation 6 (Promote)' } : c);
    assert.deepEqual(await argoHealth(rerun), { status: 'Progressing', message: 'Progressing: running generation 6 (Promote)' });
  });

  test('the script parses as Lua 5.1 would: no goto, integer division or bit operators', () => {
    const code = readFileSync(healthScript, 'utf8').replace(/--.*$/gm, '');
    assert.doesNotMatch(code, /\bgoto\b|\/\/|<<|>>|[^~]~[^=]|&|\|/);
  });
});

// The same script serves SignatureReplication (deploy/argocd/README.md): its statuses, as the
// controller's own status functions build them, read the way a PromotionManifest's do.
describe('Argo CD health.lua for SignatureReplication', () => {
  const counts = { digests: 4, unsigned: 2, signed: 2, mirrors: 4, inSync: 3, repaired: 1, artifacts: 1, notPromoted: 0, diverged: 0, failed: 0 };
  const report = (outcome: ReplicationReport['outcome'], reason: string, message: string): ReplicationReport => ({
    outcome, reason: reason as ReplicationReport['reason'], message, dryRun: false, counts, steps: [{ name: 'ListPrimary', durationMs: 5, message: '' }],
    failures: [], changes: [], requests: 12, durationMs: 40,
  });
  const now = new Date('2026-11-29T03:00:00Z');
  const object = (status: unknown, suspend = false) => {
    const sr = {
      apiVersion: 'hoist.dev/v1alpha1', kind: 'SignatureReplication', metadata: { name: 'mirrors', namespace: 'releng', generation: 2 },
      spec: { manifests: { selector: {} }, primary: { source: true }, formats: ['legacy', 'bundle'], check: 'Presence', interval: '30m', suspend },
      ...(status !== undefined && { status }),
    };
    const checked = signatureReplicationSchema.safeParse(sr);
    assert.ok(checked.success, JSON.stringify(checked.error?.issues));
    return sr;
  };

  test('no status, a run going on, done, retrying, stalled and suspended', async () => {
    assert.equal((await argoHealth(object(undefined))).status, 'Progressing');
    const running = replicationProgressStatus(undefined, 2, { step: 'ListMirrors', done: 3, total: 9 }, now);
    assert.deepEqual(await argoHealth(object(running)), { status: 'Progressing', message: 'Progressing: replicating generation 2: ListMirrors 3/9' });
    const done = replicationFinishedStatus(running, 2, report('Succeeded', 'Replicated', '1 of 4 mirror copies repaired'), { startedAt: now, requestedAt: undefined }, now);
    assert.deepEqual(await argoHealth(object(done)), { status: 'Healthy', message: 'Replicated: 1 of 4 mirror copies repaired' });
    const retrying = replicationFinishedStatus(done, 2, report('Failed', 'ServerError', 'mirror 3 answered 503'), { startedAt: now, requestedAt: undefined }, now);
    assert.equal((await argoHealth(object(retrying))).status, 'Degraded');
    const stalled = replicationFinishedStatus(done, 2, report('Refused', 'InvalidSpec', 'no primary registry'), { startedAt: now, requestedAt: undefined }, now);
    assert.deepEqual(await argoHealth(object(stalled)), { status: 'Degraded', message: 'InvalidSpec: no primary registry' });
    assert.equal((await argoHealth(object(replicationSuspendedStatus(done, 2, now), true))).status, 'Suspended');
  });
});
