// The status logic without a cluster: kstatus conditions for each kind of outcome, stable
// lastTransitionTime, one condition per phase, capped lists; and the checks before a run
// (spec rules, the registry allowlist, credentials from Secrets of the manifest's namespace).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { promotionManifestStatusSchema } from '../../src/api/promotion-manifest.ts';
import { finishedStatus, setCondition, startedStatus, verdict, type Status } from '../../src/controller/conditions.ts';
import { resolveCredentials, type SecretReader } from '../../src/controller/credentials.ts';
import { ReconcileError } from '../../src/controller/errors.ts';
import { acceptSpec } from '../../src/controller/spec.ts';
import type { PlannedEdge, RunReport } from '../../src/pipeline/index.ts';

const t0 = new Date('2026-11-25T10:00:00.123Z');
const t1 = new Date('2026-11-25T10:05:00Z');
const d = (c: string) => `sha256:${c.repeat(64)}`;

function edge(state: PlannedEdge['state'], digest = d('a'), extra: Partial<PlannedEdge> = {}): PlannedEdge {
  return { src: { host: 'staging.example', name: 'app' }, dst: { host: 'prod.example', name: 'prod/app' }, digest, tags: ['v1'], state, missingTags: [], knownTags: new Map(), ...extra };
}

function report(overrides: Partial<RunReport> = {}): RunReport {
  const plan = overrides.plan ?? [edge('promote')];
  return {
    outcome: 'Succeeded', message: '', mode: 'Promote',
    phases: [
      { name: 'Setup', result: 'Succeeded', durationMs: 1, message: 'ok' },
      { name: 'Plan', result: 'Succeeded', durationMs: 5, message: '1 edge' },
      { name: 'Promote', result: 'Succeeded', durationMs: 9, message: '1 promoted' },
    ],
    plan, results: plan.filter((e) => e.state === 'promote').map((e) => ({ edge: e, outcome: 'promoted' as const })), attestations: [],
    summary: { planned: plan.length, promoted: 1, alreadyPresent: 0, lost: 0, tagMoves: 0, failed: 0 },
    ...overrides,
  };
}

const get = (s: Status, type: string) => s.conditions?.find((c) => c.type === type);

describe('conditions', () => {
  test('a run starts Reconciling=True, Ready=Unknown, observedGeneration current, Stalled gone', () => {
    const before: Status = finishedStatus(undefined, 1, { kind: 'stalled', reason: 'SecretNotFound', message: 'x' }, t0);
    const s = startedStatus(before, 2, 'Promote', t1);
    assert.equal(s.observedGeneration, 2);
    assert.equal(get(s, 'Reconciling')?.status, 'True');
    assert.equal(get(s, 'Reconciling')?.reason, 'Progressing');
    assert.equal(get(s, 'Ready')?.status, 'Unknown');
    assert.equal(get(s, 'Stalled'), undefined);
    assert.ok(promotionManifestStatusSchema.safeParse(s).success);
  });

  test('success: Ready=True, Reconciling and Stalled removed, counts and a condition per phase', () => {
    const s = finishedStatus(startedStatus(undefined, 3, 'Promote', t0), 3, { kind: 'report', report: report() }, t1, 'req-1');
    assert.deepEqual(s.conditions?.map((c) => `${c.type}=${c.status}`), ['Ready=True', 'Setup=True', 'Plan=True', 'Promote=True']);
    assert.equal(get(s, 'Ready')?.reason, 'Succeeded');
    assert.equal(get(s, 'Ready')?.observedGeneration, 3);
    assert.equal(s.lastHandledReconcileAt, 'req-1');
    assert.equal(s.counts?.promoted, 1);
    assert.deepEqual(s.failedImages, []);
    assert.ok(promotionManifestStatusSchema.safeParse(s).success, JSON.stringify(promotionManifestStatusSchema.safeParse(s).error));
  });

  test('lastTransitionTime moves only when the status of a condition changes', () => {
    const first = finishedStatus(undefined, 1, { kind: 'report', report: report() }, t0);
    const again = finishedStatus(startedStatus(first, 1, 'Promote', t1), 1, { kind: 'report', report: report() }, t1);
    // Ready went True -> Unknown -> True: two transitions; Plan stayed True.
    assert.equal(get(again, 'Ready')?.lastTransitionTime, '2026-11-25T10:05:00Z');
    assert.equal(get(again, 'Plan')?.lastTransitionTime, '2026-11-25T10:00:00Z');
    const c = setCondition(first.conditions!, { type: 'Ready', status: 'True', reason: 'Succeeded', message: 'new message' }, 2, t1);
    assert.equal(c.find((x) => x.type === 'Ready')?.lastTransitionTime, '2026-11-25T10:00:00Z');
    assert.equal(c.find((x) => x.type === 'Ready')?.message, 'new message');
  });

  test('a tag move is Stalled (TagMoveRefused), never retried, and listed in failedImages', () => {
    const plan = [edge('tagMove', d('b'), { conflicts: [{ tag: 'v1', digest: d('c') }] }), edge('present')];
    const r = report({ outcome: 'Refused', plan, results: [], summary: { planned: 2, promoted: 0, alreadyPresent: 1, lost: 0, tagMoves: 1, failed: 0 } });
    const v = verdict({ kind: 'report', report: r });
    assert.equal(v.stalled?.reason, 'TagMoveRefused');
    assert.equal(v.ready.status, 'False');
    assert.equal(v.retrying, undefined);
    assert.match(v.stalled!.message, /prod\.example\/prod\/app:v1 points at sha256:cccc/);
    const s = finishedStatus(undefined, 1, { kind: 'report', report: r }, t0);
    assert.deepEqual(s.failedImages?.map((f) => f.reason), ['TagMoveRefused']);
  });

  test('lost digests are Stalled (DigestNotFound)', () => {
    const r = report({ outcome: 'Refused', plan: [edge('lost')], results: [], summary: { planned: 1, promoted: 0, alreadyPresent: 0, lost: 1, tagMoves: 0, failed: 0 } });
    assert.equal(verdict({ kind: 'report', report: r }).stalled?.reason, 'DigestNotFound');
  });

  test('failed images: Ready=False, Reconciling=True (retrying), not Stalled; failedImages capped at 20', () => {
    const plan = Array.from({ length: 30 }, (_, i) => edge('promote', `sha256:${i.toString(16).padStart(64, '0')}`));
    const results = plan.map((e) => ({ edge: e, outcome: 'failed' as const, error: { reason: 'RateLimited', message: '429 from prod.example' } }));
    const r = report({ outcome: 'Failed', plan, results, summary: { planned: 30, promoted: 0, alreadyPresent: 0, lost: 0, tagMoves: 0, failed: 30 } });
    const s = finishedStatus(undefined, 1, { kind: 'report', report: r }, t0);
    assert.equal(get(s, 'Ready')?.reason, 'ImagesFailed');
    assert.match(get(s, 'Ready')!.message, /30 of 30 edges failed \(first: 429 from prod\.example\)/);
    assert.equal(get(s, 'Reconciling')?.reason, 'ProgressingWithRetry');
    assert.equal(get(s, 'Stalled'), undefined);
    assert.equal(s.failedImages?.length, 20);
    assert.ok(promotionManifestStatusSchema.safeParse(s).success);
  });

  test('a stalled setup drops the phase conditions of an earlier run', () => {
    const ok = finishedStatus(undefined, 1, { kind: 'report', report: report() }, t0);
    const s = finishedStatus(ok, 2, { kind: 'stalled', reason: 'SecretNotFound', message: 'Secret default/x does not exist' }, t1);
    assert.deepEqual(s.conditions?.map((c) => `${c.type}=${c.status}:${c.reason}`), ['Ready=False:SecretNotFound', 'Stalled=True:SecretNotFound']);
  });

  test('Plan mode is Ready with reason Planned', () => {
    assert.equal(verdict({ kind: 'report', report: report({ mode: 'Plan', results: [] }) }).ready.reason, 'Planned');
  });
});

const spec = (destination: string, secret?: string) => ({
  registries: [{ name: 'staging.example/s', src: true }, { name: destination, ...(secret && { credentials: { secretRef: { name: secret } } }) }],
  images: [{ name: 'app', dmap: { [d('a')]: ['v1'] } }],
});

describe('checks before a run', () => {
  test('the allowlist refuses other destination hosts with an actionable message', () => {
    assert.doesNotThrow(() => acceptSpec(spec('prod.example/p'), ['prod.example']));
    assert.throws(() => acceptSpec(spec('evil.example/p'), ['prod.example']), (e: ReconcileError) => e.stalled && e.reason === 'RegistryNotAllowed' && /evil\.example\/p/.test(e.message));
  });

  test('model rules the CRD cannot check are Stalled with their reason', () => {
    const bad = spec('prod.example/p');
    bad.images.push({ name: 'app', dmap: { [d('b')]: ['v1'] } });
    assert.throws(() => acceptSpec(bad, undefined), (e: ReconcileError) => e.stalled && e.reason === 'DuplicateImage');
  });

  const secrets = (data: Record<string, { type: string; data: Record<string, string> }>): SecretReader => ({
    read: async (namespace, name) => data[`${namespace}/${name}`],
  });
  const dockerconfig = (host: string) => ({ '.dockerconfigjson': Buffer.from(JSON.stringify({ auths: { [host]: { username: 'u', password: 'p' } } })).toString('base64') });

  test('credentials come from a dockerconfigjson Secret in the manifest namespace', async () => {
    const { model } = acceptSpec(spec('prod.example/p', 'push'), undefined);
    const creds = await resolveCredentials(secrets({ 'team/push': { type: 'kubernetes.io/dockerconfigjson', data: dockerconfig('prod.example') } }), 'team', model);
    assert.deepEqual(creds.get('prod.example'), { kind: 'basic', username: 'u', password: 'p' });
    await assert.rejects(resolveCredentials(secrets({}), 'other', model), (e: ReconcileError) => e.stalled && e.reason === 'SecretNotFound' && /other\/push/.test(e.message));
    await assert.rejects(resolveCredentials(secrets({ 'team/push': { type: 'Opaque', data: dockerconfig('prod.example') } }), 'team', model), (e: ReconcileError) => e.reason === 'SecretWrongType');
    await assert.rejects(resolveCredentials(secrets({ 'team/push': { type: 'kubernetes.io/dockerconfigjson', data: dockerconfig('elsewhere.example') } }), 'team', model), (e: ReconcileError) => e.reason === 'SecretHasNoEntryForRegistry');
  });

  test('a secretRef naming another namespace is refused', async () => {
    const { model } = acceptSpec(spec('prod.example/p', 'kube-system/push'), undefined);
    await assert.rejects(resolveCredentials(secrets({}), 'team', model), (e: ReconcileError) => e.stalled && e.reason === 'SecretRefOutsideNamespace');
  });
});
