// The status logic without a cluster: kstatus conditions rendered from each kind of run report,
// stable lastTransitionTime, one condition per phase, capped lists; and the checks before a run
// (spec rules, the registry allowlist, credentials from Secrets of the manifest's namespace).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { promotionManifestStatusSchema } from '../../src/api/promotion-manifest.ts';
import { isTerminal, type Reason } from '../../src/api/reasons.ts';
import { finishedStatus, kstatusConditions, setCondition, startedStatus, type Status } from '../../src/controller/conditions.ts';
import { resolveCredentials, type SecretReader } from '../../src/controller/credentials.ts';
import type { ReconcileError } from '../../src/controller/errors.ts';
import { acceptSpec } from '../../src/controller/spec.ts';
import { notRun, type RunReport } from '../../src/pipeline/index.ts';
import { conclude } from '../../src/pipeline/outcome.ts';
import { EdgeOutcome, type EdgeState, type PhaseResult, type TagConflict } from '../../src/pipeline/types.ts';

const t0 = new Date('2026-11-25T10:00:00.123Z');
const t1 = new Date('2026-11-25T10:05:00Z');
const d = (c: string) => `sha256:${c.repeat(64)}`;
const src = { host: 'staging.example', name: 'app' };
const dst = { host: 'prod.example', name: 'prod/app' };

function edge(state: EdgeState, digest = d('a'), problem?: { reason: Reason; detail: string; conflicts?: TagConflict[] }): EdgeOutcome {
  const outcome = new EdgeOutcome({ src, dst, digest, tags: ['v1'] });
  outcome.state = state;
  if (problem) Object.assign(outcome, problem);
  return outcome;
}

const phases: PhaseResult[] = [
  { name: 'Setup', result: 'Succeeded', reason: 'SetupSucceeded', durationMs: 1, message: 'ok' },
  { name: 'Plan', result: 'Succeeded', reason: 'PlanSucceeded', durationMs: 5, message: '1 edge' },
  { name: 'Promote', result: 'Succeeded', reason: 'PromoteSucceeded', durationMs: 9, message: '1 promoted' },
];

function report(edges: EdgeOutcome[] = [edge('promoted')], mode: RunReport['mode'] = 'Promote'): RunReport {
  return conclude(mode, phases, edges, []);
}

const stalled = (reason: Reason, message: string) => notRun('Promote', reason, message);

const get = (s: Status, type: string) => s.conditions?.find((c) => c.type === type);

describe('conditions', () => {
  test('a run starts Reconciling=True, Ready=Unknown, observedGeneration current, Stalled gone', () => {
    const before: Status = finishedStatus(undefined, 1, stalled('SecretNotFound', 'x'), t0);
    const s = startedStatus(before, 2, 'Promote', t1);
    assert.equal(s.observedGeneration, 2);
    assert.equal(get(s, 'Reconciling')?.status, 'True');
    assert.equal(get(s, 'Reconciling')?.reason, 'Progressing');
    assert.equal(get(s, 'Ready')?.status, 'Unknown');
    assert.equal(get(s, 'Stalled'), undefined);
    assert.ok(promotionManifestStatusSchema.safeParse(s).success);
  });

  test('success: Ready=True, Reconciling and Stalled removed, counts and a condition per phase', () => {
    const s = finishedStatus(startedStatus(undefined, 3, 'Promote', t0), 3, report(), t1, 'req-1');
    assert.deepEqual(s.conditions?.map((c) => `${c.type}=${c.status}`), ['Ready=True', 'Setup=True', 'Plan=True', 'Promote=True']);
    assert.equal(get(s, 'Ready')?.reason, 'Succeeded');
    assert.equal(get(s, 'Ready')?.observedGeneration, 3);
    assert.equal(s.lastHandledReconcileAt, 'req-1');
    assert.equal(s.counts?.promoted, 1);
    assert.deepEqual(s.failedImages, []);
    assert.ok(promotionManifestStatusSchema.safeParse(s).success, JSON.stringify(promotionManifestStatusSchema.safeParse(s).error));
  });

  test('lastTransitionTime moves only when the status of a condition changes', () => {
    const first = finishedStatus(undefined, 1, report(), t0);
    const again = finishedStatus(startedStatus(first, 1, 'Promote', t1), 1, report(), t1);
    // Ready went True -> Unknown -> True: two transitions; Plan stayed True.
    assert.equal(get(again, 'Ready')?.lastTransitionTime, '2026-11-25T10:05:00Z');
    assert.equal(get(again, 'Plan')?.lastTransitionTime, '2026-11-25T10:00:00Z');
    const c = setCondition(first.conditions!, { type: 'Ready', status: 'True', reason: 'Succeeded', message: 'new message' }, 2, t1);
    assert.equal(c.find((x) => x.type === 'Ready')?.lastTransitionTime, '2026-11-25T10:00:00Z');
    assert.equal(c.find((x) => x.type === 'Ready')?.message, 'new message');
  });

  test('a tag move is Stalled (TagMoveRefused) and listed in failedImages', () => {
    const r = report([edge('tagMove', d('b'), { reason: 'TagMoveRefused', detail: 'moved', conflicts: [{ tag: 'v1', digest: d('c') }] }), edge('present')]);
    assert.equal(r.outcome, 'Refused');
    const k = kstatusConditions(r);
    assert.equal(k.stalled?.reason, 'TagMoveRefused');
    assert.equal(k.ready.status, 'False');
    assert.equal(k.reconciling, undefined);
    assert.match(k.stalled!.message, /prod\.example\/prod\/app:v1 points at sha256:cccc/);
    const s = finishedStatus(undefined, 1, r, t0);
    assert.deepEqual(s.failedImages?.map((f) => f.reason), ['TagMoveRefused']);
  });

  test('lost digests are Stalled (DigestNotFound)', () => {
    const r = report([edge('lost', d('a'), { reason: 'DigestNotFound', detail: 'gone' })]);
    assert.equal(kstatusConditions(r).stalled?.reason, 'DigestNotFound');
  });

  test('unverified edges are Stalled (VerificationFailed), each listed with its own reason', () => {
    const r = report([edge('unverified', d('a'), { reason: 'ProvenanceNotVerified', detail: 'no provenance found' }), edge('promoted', d('b'))]);
    assert.equal(kstatusConditions(r).stalled?.reason, 'VerificationFailed');
    assert.match(kstatusConditions(r).stalled!.message, /ProvenanceNotVerified: no provenance found/);
    assert.deepEqual(finishedStatus(undefined, 1, r, t0).failedImages?.map((f) => f.reason), ['ProvenanceNotVerified']);
  });

  test('failed images: Ready=False, Reconciling=True (retrying), not Stalled; failedImages capped at 20', () => {
    const edges = Array.from({ length: 30 }, (_, i) => edge('failed', `sha256:${i.toString(16).padStart(64, '0')}`, { reason: 'RateLimited', detail: '429 from prod.example' }));
    const s = finishedStatus(undefined, 1, report(edges), t0);
    assert.equal(get(s, 'Ready')?.reason, 'ImagesFailed');
    assert.match(get(s, 'Ready')!.message, /^30 of 30 edges failed: prod\.example: RateLimited \(30 edges\): 429 from prod\.example$/, 'rolled up per registry; no "the others are done" when none are');
    assert.deepEqual(s.failures, [{ host: 'prod.example', reason: 'RateLimited', edges: 30, message: 'prod.example: RateLimited (30 edges): 429 from prod.example' }]);
    assert.equal(get(s, 'Reconciling')?.reason, 'ProgressingWithRetry');
    assert.equal(get(s, 'Stalled'), undefined);
    assert.equal(s.failedImages?.length, 20);
    assert.equal(s.failedImages?.[0]?.reason, 'RateLimited');
    assert.ok(promotionManifestStatusSchema.safeParse(s).success);
  });

  test('a stalled setup drops the phase conditions of an earlier run', () => {
    const ok = finishedStatus(undefined, 1, report(), t0);
    const s = finishedStatus(ok, 2, stalled('SecretNotFound', 'Secret default/x does not exist'), t1);
    assert.deepEqual(s.conditions?.map((c) => `${c.type}=${c.status}:${c.reason}`), ['Ready=False:SecretNotFound', 'Stalled=True:SecretNotFound']);
  });

  test('a failed phase is its condition\'s reason; a terminal one stalls the run', () => {
    const failedSetup: PhaseResult = { name: 'Provenance', result: 'Failed', reason: 'ProvenanceSignerUnknown', durationMs: 1, message: 'add keys' };
    const r = conclude('Promote', [phases[0]!, phases[1]!, failedSetup], [edge('promote')], [], { reason: 'ProvenanceSignerUnknown', message: 'add keys' });
    const s = finishedStatus(undefined, 1, r, t0);
    assert.equal(get(s, 'Provenance')?.status, 'False');
    assert.equal(get(s, 'Provenance')?.reason, 'ProvenanceSignerUnknown');
    assert.equal(get(s, 'Stalled')?.reason, 'ProvenanceSignerUnknown');
    assert.equal(get(s, 'Reconciling'), undefined);
    assert.ok(promotionManifestStatusSchema.safeParse(s).success);
  });

  test('Plan mode is Ready with reason Planned', () => {
    assert.equal(kstatusConditions(report([edge('promote')], 'Plan')).ready.reason, 'Planned');
  });
});

const spec = (destination: string, secret?: string) => ({
  registries: [{ name: 'staging.example/s', src: true }, { name: destination, ...(secret && { credentials: { secretRef: { name: secret } } }) }],
  images: [{ name: 'app', dmap: { [d('a')]: ['v1'] } }],
});

describe('checks before a run', () => {
  test('the allowlist refuses other destination hosts with an actionable message', () => {
    assert.doesNotThrow(() => acceptSpec(spec('prod.example/p'), ['prod.example']));
    assert.throws(() => acceptSpec(spec('evil.example/p'), ['prod.example']), (e: ReconcileError) => isTerminal(e.reason) && e.reason === 'RegistryNotAllowed' && /evil\.example\/p/.test(e.message));
  });

  test('model rules the CRD cannot check are Stalled with their reason', () => {
    const bad = spec('prod.example/p');
    bad.images.push({ name: 'app', dmap: { [d('b')]: ['v1'] } });
    assert.throws(() => acceptSpec(bad, undefined), (e: ReconcileError) => isTerminal(e.reason) && e.reason === 'DuplicateImage');
  });

  const secrets = (data: Record<string, { type: string; data: Record<string, string> }>): SecretReader => ({
    read: async (namespace, name) => data[`${namespace}/${name}`],
  });
  const dockerconfig = (host: string) => ({ '.dockerconfigjson': Buffer.from(JSON.stringify({ auths: { [host]: { username: 'u', password: 'p' } } })).toString('base64') });

  test('credentials come from a dockerconfigjson Secret in the manifest namespace', async () => {
    const { model } = acceptSpec(spec('prod.example/p', 'push'), undefined);
    const creds = await resolveCredentials(secrets({ 'team/push': { type: 'kubernetes.io/dockerconfigjson', data: dockerconfig('prod.example') } }), 'team', model);
    assert.deepEqual(creds.get('prod.example'), { kind: 'basic', username: 'u', password: 'p' });
    await assert.rejects(resolveCredentials(secrets({}), 'other', model), (e: ReconcileError) => isTerminal(e.reason) && e.reason === 'SecretNotFound' && /other\/push/.test(e.message));
    await assert.rejects(resolveCredentials(secrets({ 'team/push': { type: 'Opaque', data: dockerconfig('prod.example') } }), 'team', model), (e: ReconcileError) => e.reason === 'SecretWrongType');
    await assert.rejects(resolveCredentials(secrets({ 'team/push': { type: 'kubernetes.io/dockerconfigjson', data: dockerconfig('elsewhere.example') } }), 'team', model), (e: ReconcileError) => e.reason === 'SecretHasNoEntryForRegistry');
  });

  test('a secretRef naming another namespace is refused', async () => {
    const { model } = acceptSpec(spec('prod.example/p', 'kube-system/push'), undefined);
    await assert.rejects(resolveCredentials(secrets({}), 'team', model), (e: ReconcileError) => isTerminal(e.reason) && e.reason === 'SecretRefOutsideNamespace');
  });
});
