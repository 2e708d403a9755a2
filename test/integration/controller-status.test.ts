// Status writes against a real kube-apiserver: a merge patch leaves a field alone unless it is
// sent, so every field the new status drops, at any depth, must be removed explicitly. Runs the
// controller's own status rendering (conditions.ts) and writer (status.ts) over canned reports.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { crdFile } from '../../src/api/crd.ts';
import { parseRepository } from '../../src/api/reference.ts';
import { finishedStatus, progressStatus } from '../../src/controller/conditions.ts';
import { plannedProgress } from '../../src/controller/inventory.ts';
import { kubeClients, loadKubeConfig } from '../../src/controller/kube.ts';
import { StatusWriter } from '../../src/controller/status.ts';
import { createLogger } from '../../src/observability/logger.ts';
import { conclude } from '../../src/pipeline/outcome.ts';
import { EdgeOutcome, type EdgeState, type PhaseResult } from '../../src/pipeline/types.ts';
import { startKube, type TestKube } from '../support/kube.ts';

const quiet = createLogger({ level: 'error', destination: { write: () => {} } });
const d = (n: number) => `sha256:${n.toString(16).padStart(64, '0')}`;
const phases: PhaseResult[] = [{ name: 'Plan', result: 'Succeeded', reason: 'PlanSucceeded', durationMs: 1, message: 'ok' }];
const src = parseRepository('staging.example/app');
const dst = parseRepository('prod.example/app');

function outcome(state: EdgeState, n: number): EdgeOutcome {
  const o = new EdgeOutcome({ src, dst, digest: d(n), tags: [`v${n}`] });
  o.state = state;
  return o;
}

describe('status writes on a real API server', () => {
  let kube: TestKube;
  let writer: StatusWriter;
  before(async () => {
    kube = await startKube();
    kube.kubectl(['apply', '--server-side', '-f', crdFile]);
    kube.kubectl(['wait', '--for', 'condition=established', '--timeout=60s', 'crd/promotionmanifests.hoist.dev']);
    kube.kubectl(['apply', '-f', '-'], { input: `apiVersion: hoist.dev/v1alpha1
kind: PromotionManifest
metadata:
  name: pm
spec:
  registries:
    - name: staging.example
      src: true
    - name: prod.example
  images:
    - name: app
      dmap:
        "${d(1)}": ["v1"]
        "${d(2)}": ["v2"]
` });
    writer = new StatusWriter(kubeClients(loadKubeConfig(kube.kubeconfig)).custom, quiet);
  });
  after(() => kube?.stop());

  const stored = () => JSON.parse(kube.kubectl(['get', 'pm', 'pm', '-o', 'json'])) as { status?: Record<string, unknown> & { lastPromoted?: Record<string, unknown> } };

  test('fields an earlier run set, nested ones too, are gone after the next clean run', async () => {
    const t0 = new Date('2026-11-28T10:00:00Z');
    // A run that was killed mid-copy left its write-ahead record.
    const record = plannedProgress(t0, 1, [outcome('promote', 1), outcome('promote', 2)]);
    await writer.update('default', 'pm', (s) => progressStatus(s.status, 1, 'Promote', record, t0));
    assert.equal(stored().status?.progress !== undefined, true);
    // The next run finds both copies present and reports them as the interrupted run's.
    const t1 = new Date('2026-11-28T11:00:00Z');
    const found = conclude('Promote', phases, [outcome('present', 1), outcome('present', 2)], []);
    await writer.update('default', 'pm', (s) => finishedStatus(s.status, 1, found, t1, undefined, { startedAt: t1, interrupted: { startedAt: record.startedAt, edges: 2 } }));
    assert.deepEqual(stored().status?.lastPromoted, { at: '2026-11-28T10:00:00Z', edges: 2, interrupted: true });
    assert.equal(stored().status?.progress, undefined, 'the record is removed');
    // A clean run promotes something itself: lastPromoted is its own, without `interrupted`.
    const t2 = new Date('2026-11-28T12:00:00Z');
    const clean = conclude('Promote', phases, [outcome('present', 1), outcome('promoted', 2)], []);
    await writer.update('default', 'pm', (s) => finishedStatus(s.status, 1, clean, t2, undefined, { startedAt: t2 }));
    assert.deepEqual(stored().status?.lastPromoted, { at: '2026-11-28T12:00:00Z', edges: 1 });
  });
});
