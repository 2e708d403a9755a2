// The Grafana dashboard and the Prometheus alert rules use only metrics (and labels) that
// docs/controller-reference.md says the controller exports: the PromQL of every panel, template
// variable and rule is parsed for its metric names and label matchers. (chart.test.ts also checks
// them against the /metrics of a running controller.)
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { alertRules, checkExpression, contractMetrics, dashboardExpressions, promqlSelectors } from '../support/deploy.ts';

const contract = contractMetrics();
const check = (where: string, expr: string) => checkExpression(where, expr, contract);

describe('dashboard and alerts use only the contract\'s metrics', () => {
  test('the contract lists the metrics the dashboard is built on', () => {
    for (const name of ['controller_runtime_reconcile_total', 'workqueue_depth', 'leader_election_master_status', 'hoist_registry_throttled_total']) {
      assert.ok(contract.has(name), name);
    }
    assert.equal(contract.get('hoist_phase_duration_seconds')?.histogram, true);
    assert.equal(contract.get('workqueue_work_duration_seconds')?.histogram, true);
    assert.equal(contract.get('hoist_edges_total')?.histogram, false);
    assert.deepEqual([...contract.get('hoist_registry_requests_total')!.labels], ['host', 'method', 'code_class']);
  });

  test('the PromQL reader finds metric names and labels, not functions or variables', () => {
    const { selectors, grouping } = promqlSelectors('histogram_quantile(0.9, sum by (le, phase) (rate(hoist_phase_duration_seconds_bucket{namespace=~"$namespace"}[$__rate_interval]))) / on(pod) group_left up');
    assert.deepEqual(selectors, [{ metric: 'hoist_phase_duration_seconds_bucket', labels: ['namespace'] }, { metric: 'up', labels: [] }]);
    assert.deepEqual(grouping, ['le', 'phase', 'pod']);
    assert.deepEqual(check('x', 'rate(hoist_made_up_total[5m])'), ['x: metric "hoist_made_up_total" is not in docs/controller-reference.md']);
    assert.deepEqual(check('x', 'sum by (phase) (hoist_registry_bytes_total{hostname="a"})'), [
      'x: "hoist_registry_bytes_total" has no label "hostname" in the contract',
      'x: groups by "phase", which none of its metrics has',
    ]);
    assert.deepEqual(check('x', 'hoist_edges_total_bucket'), ['x: metric "hoist_edges_total_bucket" is not in docs/controller-reference.md']);
  });

  test('every dashboard query uses contract metrics and labels only', () => {
    const expressions = dashboardExpressions();
    assert.ok(expressions.length > 20);
    assert.deepEqual(expressions.flatMap((e) => check(e.where, e.expr)), []);
  });

  test('the dashboard covers reconciles, errors, phases, registry requests, 429s, bytes, queue depth and the leader', () => {
    const used = new Set(dashboardExpressions().flatMap((e) => promqlSelectors(e.expr).selectors.map((s) => s.metric.replace(/_(bucket|sum|count)$/, ''))));
    for (const name of [
      'controller_runtime_reconcile_total', 'controller_runtime_reconcile_errors_total', 'controller_runtime_reconcile_time_seconds',
      'hoist_phase_duration_seconds', 'hoist_registry_requests_total', 'hoist_registry_throttled_total', 'hoist_registry_bytes_total',
      'workqueue_depth', 'leader_election_master_status', 'hoist_manifests',
    ]) assert.ok(used.has(name), `the dashboard does not show ${name}`);
  });

  test('the dashboard is importable: a datasource variable, unique panel ids, a uid', () => {
    const dashboard = JSON.parse(readFileSync('deploy/grafana/hoist-dashboard.json', 'utf8'));
    assert.equal(dashboard.uid, 'hoist-controller');
    assert.ok(dashboard.templating.list.some((v: any) => v.type === 'datasource' && v.query === 'prometheus'));
    const ids = dashboard.panels.map((p: any) => p.id);
    assert.equal(new Set(ids).size, ids.length);
    for (const panel of dashboard.panels.filter((p: any) => p.type !== 'row')) {
      assert.equal(panel.datasource?.uid, '${datasource}', `panel "${panel.title}"`);
    }
  });

  test('every alert rule uses contract metrics and labels only, and is well formed', () => {
    const rules = alertRules();
    assert.deepEqual(rules.flatMap((r) => check(`alert ${r.alert}`, r.expr)), []);
    for (const rule of rules) {
      assert.match(rule.alert, /^Hoist[A-Z]\w+$/);
      assert.match(rule.for, /^\d+[smh]$/, rule.alert);
      assert.ok(['critical', 'warning', 'info'].includes(rule.labels?.severity), `${rule.alert} severity`);
      assert.ok(rule.annotations?.summary && rule.annotations?.description, `${rule.alert} annotations`);
    }
  });

  test('the alerts cover each stalled or failing resource by name, the reconcile error rate, a missing leader and a missing controller', () => {
    const byName = new Map(alertRules().map((r) => [r.alert, r]));
    const stalled = byName.get('HoistManifestStalled');
    assert.match(stalled?.expr ?? '', /by \(namespace, name\) \(hoist_manifest_condition\{type="Stalled", status="True"\}\)/);
    assert.match(stalled?.annotations.summary ?? '', /\{\{ \$labels\.namespace \}\}\/\{\{ \$labels\.name \}\}/, 'the alert names the resource');
    assert.match(byName.get('HoistManifestNotReady')?.expr ?? '', /hoist_manifest_condition\{type="Ready", status="False"\}/);
    assert.match(byName.get('HoistReconcileErrorRate')?.expr ?? '', /controller_runtime_reconcile_errors_total/);
    // With leader election off the series does not exist: the alert must not fire then.
    assert.doesNotMatch(byName.get('HoistNoLeader')?.expr ?? '', /absent/);
    assert.match(byName.get('HoistControllerAbsent')?.expr ?? '', /^absent\(controller_runtime_max_concurrent_reconciles\{controller="promotionmanifest"\}\)$/);
  });

  test('a static scrape is enough: no query needs a target label but job and instance, which every scrape has', () => {
    const everyScrape = new Set(['job', 'instance']);
    const problems: string[] = [];
    for (const { where, expr } of [...dashboardExpressions(), ...alertRules().map((r) => ({ where: `alert ${r.alert}`, expr: r.expr as string }))]) {
      const { selectors, grouping } = promqlSelectors(expr);
      const own = new Set(selectors.flatMap((s) => [...(contract.get(s.metric.replace(/_(bucket|sum|count)$/, ''))?.labels ?? [])]));
      for (const label of [...selectors.flatMap((s) => s.labels), ...grouping]) {
        if (!own.has(label) && !everyScrape.has(label) && label !== 'le') problems.push(`${where}: needs the target label "${label}"`);
      }
    }
    assert.deepEqual(problems, []);
  });
});
