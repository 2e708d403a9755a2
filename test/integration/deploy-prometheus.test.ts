// The alert rules and the dashboard on a real Prometheus (Debian's, from the test bed), with a
// static scrape: no namespace or pod target labels, only job and instance. promtool checks the
// rules' timing on synthetic series (leader election off never fires HoistNoLeader; a Stalled
// resource fires an alert that names it); then a Prometheus scrapes a running controller with a
// static_configs target, evaluates every rule and every dashboard query against what it exports,
// and the alerts that fire are the ones the cluster's state calls for.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { stringify } from 'yaml';
import { startController, type RunningController } from '../../src/controller/index.ts';
import { createLogger } from '../../src/observability/logger.ts';
import { apply, applyCrd, condition, getPm, waitFor } from '../support/controller.ts';
import { alertRules, dashboardExpressions } from '../support/deploy.ts';
import { startKube, type TestKube } from '../support/kube.ts';
import { freePort, startServer, waitUntil, type Server } from '../support/process.ts';
import { runTool, tool } from '../support/testbed.ts';

const alertsFile = 'deploy/prometheus/hoist-alerts.yaml';
const work = mkdtempSync(join(tmpdir(), 'hoist-prometheus-'));
after(() => rmSync(work, { recursive: true, force: true }));

describe('alerts and dashboard on a real Prometheus with a static scrape', () => {
  test('promtool: the rules are valid; with leader election off HoistNoLeader stays quiet; a Stalled resource is named', async () => {
    assert.match(await runTool('promtool', ['check', 'rules', alertsFile]), /SUCCESS: \d+ rules found/);
    const target = 'job="hoist",instance="127.0.0.1:8080"';
    const tests = {
      rule_files: [join(process.cwd(), alertsFile)],
      evaluation_interval: '1m',
      tests: [{
        interval: '1m',
        // A static scrape of a controller without --leader-elect: no leader_election_master_status at all.
        input_series: [
          { series: `controller_runtime_max_concurrent_reconciles{controller="promotionmanifest",${target}}`, values: '4x60' },
          { series: `hoist_manifest_condition{namespace="releng",name="bom",type="Stalled",status="True",${target}}`, values: '1x60' },
          { series: `hoist_manifest_condition{namespace="releng",name="ok",type="Stalled",status="True",${target}}`, values: '0x60' },
        ],
        alert_rule_test: [
          { eval_time: '30m', alertname: 'HoistNoLeader', exp_alerts: [] },
          { eval_time: '30m', alertname: 'HoistControllerAbsent', exp_alerts: [] },
          { eval_time: '10m', alertname: 'HoistManifestStalled', exp_alerts: [] },
          {
            eval_time: '30m', alertname: 'HoistManifestStalled',
            exp_alerts: [{
              exp_labels: { severity: 'warning', namespace: 'releng', name: 'bom' },
              exp_annotations: {
                summary: 'PromotionManifest releng/bom is Stalled',
                description: 'It makes no progress until its spec, credentials or trust material are fixed: kubectl describe pm -n releng bom; the Stalled condition\'s reason is listed in docs/troubleshooting.md.',
                runbook_url: 'https://github.com/hoist-dev/hoist/blob/main/docs/troubleshooting.md',
              },
            }],
          },
        ],
      }, {
        interval: '1m',
        // With leader election on and nobody leading, it fires; with no controller at all, the absent alert does.
        input_series: [{ series: `leader_election_master_status{name="hoist-controller",${target}}`, values: '0x20' }],
        alert_rule_test: [
          { eval_time: '10m', alertname: 'HoistNoLeader', exp_alerts: [{ exp_labels: { severity: 'critical' }, exp_annotations: alertRules().find((r) => r.alert === 'HoistNoLeader')!.annotations }] },
          { eval_time: '15m', alertname: 'HoistControllerAbsent', exp_alerts: [{ exp_labels: { severity: 'critical', controller: 'promotionmanifest' }, exp_annotations: alertRules().find((r) => r.alert === 'HoistControllerAbsent')!.annotations }] },
        ],
      }],
    };
    const file = join(work, 'alerts.test.yaml');
    writeFileSync(file, stringify(tests));
    assert.match(await runTool('promtool', ['test', 'rules', file]), /SUCCESS/);
  });

  describe('a Prometheus scraping a running controller (leader election off)', () => {
    let kube: TestKube;
    let controller: RunningController;
    let prometheus: Server;
    let url: string;

    before(async () => {
      kube = await startKube();
      await applyCrd(kube);
      controller = await startController({
        kubeconfig: kube.kubeconfig, metricsBindAddress: '127.0.0.1:0', healthProbeBindAddress: '0',
        logger: createLogger({ level: 'error', destination: { write: () => {} } }),
      });
      await controller.synced;
      // A resource that stalls at once: its Secret does not exist.
      await apply(kube, `apiVersion: hoist.dev/v1alpha1
kind: PromotionManifest
metadata: { name: stuck, namespace: default }
spec:
  registries:
    - { name: staging.example/s, src: true }
    - { name: prod.example/p, credentials: { secretRef: { name: missing } } }
  images: [{ name: app, dmap: { "sha256:${'b'.repeat(64)}": [v1] } }]
`);
      await waitFor('stuck Stalled', async () => condition(await getPm(kube, 'stuck'), 'Stalled')?.status === 'True');
      // The rules with every `for` cut to 0s: this checks what they select, promtool above their timing.
      const rules = readFileSync(alertsFile, 'utf8').replace(/^(\s+)for: \S+$/gm, '$1for: 0s');
      writeFileSync(join(work, 'rules.yaml'), rules);
      writeFileSync(join(work, 'prometheus.yml'), stringify({
        global: { scrape_interval: '1s', evaluation_interval: '1s' },
        rule_files: [join(work, 'rules.yaml')],
        scrape_configs: [{ job_name: 'hoist', static_configs: [{ targets: [`127.0.0.1:${controller.metricsPort}`] }] }],
      }));
      const port = await freePort();
      url = `http://127.0.0.1:${port}`;
      prometheus = startServer(`prometheus :${port}`, tool('prometheus'), [
        `--config.file=${join(work, 'prometheus.yml')}`, `--storage.tsdb.path=${join(work, 'data')}`, `--web.listen-address=127.0.0.1:${port}`,
      ]);
      await waitUntil(prometheus, 'ready', async () => (await fetch(`${url}/-/ready`)).ok);
    });
    after(async () => {
      await prometheus?.stop();
      await controller?.stop();
      await kube?.stop();
    });

    const query = async (expr: string) => {
      const res = await fetch(`${url}/api/v1/query?query=${encodeURIComponent(expr)}`);
      const body = await res.json() as { status: string; error?: string; data?: { result: { metric: Record<string, string> }[] } };
      assert.equal(body.status, 'success', `${expr}: ${body.error}`);
      return body.data!.result;
    };

    test('the Stalled resource fires an alert that names it; no leader or absence alert fires', async () => {
      const firing = await waitFor('HoistManifestStalled firing', async () => {
        const res = await (await fetch(`${url}/api/v1/alerts`)).json() as { data: { alerts: { labels: Record<string, string>; state: string; annotations: Record<string, string> }[] } };
        const alerts = res.data.alerts.filter((a) => a.state === 'firing');
        return alerts.some((a) => a.labels.alertname === 'HoistManifestStalled') ? alerts : undefined;
      }, 60_000, 500);
      const stalled = firing.find((a) => a.labels.alertname === 'HoistManifestStalled')!;
      assert.equal(stalled.labels.namespace, 'default');
      assert.equal(stalled.labels.name, 'stuck');
      assert.equal(stalled.annotations.summary, 'PromotionManifest default/stuck is Stalled');
      assert.deepEqual(firing.map((a) => a.labels.alertname ?? '').filter((n) => ['HoistNoLeader', 'HoistControllerAbsent', 'HoistWorkQueueBacklog'].includes(n)), []);
    });

    test('every dashboard query is valid PromQL, and the panels built on initialised series have data from the first scrape', async () => {
      const substitute = (expr: string | undefined) => (expr ?? '').replaceAll('$job', '.*').replaceAll('$__rate_interval', '1m').replaceAll('$__range', '5m');
      for (const { where, expr } of dashboardExpressions()) {
        await query(substitute(expr)).catch((error: Error) => assert.fail(`${where}: ${error.message}`));
      }
      const queue = await query('workqueue_depth{job=~".*", name="promotionmanifest"}');
      assert.equal(queue.length, 1, 'workqueue_depth exists before any backlog');
      assert.equal(queue[0]!.metric.namespace, undefined, 'a static scrape adds no namespace');
      assert.equal((await query('workqueue_retries_total{name="promotionmanifest"}')).length, 1);
      const notReady = await query('max by (namespace, name, status) (hoist_manifest_condition{job=~".*", type="Ready", status!="True"}) == 1');
      assert.deepEqual(notReady.map((r) => `${r.metric.namespace}/${r.metric.name}`), ['default/stuck'], 'the dashboard table lists the resource');
    });
  });
});
