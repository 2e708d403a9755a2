// Shared by the deploy tests (test/{unit,integration}/deploy-*.test.ts) and test/integration/chart.test.ts:
// the contract's metric list, a small PromQL reader, the dashboard's and alert rules' queries,
// and deploy/argocd/health.lua run by Debian's lua5.4. Not a test file itself.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { accessSync, constants, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { parse } from 'yaml';
import { installScript } from './testbed.ts';

export interface ContractMetric { labels: Set<string>; histogram: boolean }

/** The metrics section of docs/controller-reference.md: name -> labels, and which are histograms. */
export function contractMetrics(markdown = readFileSync('docs/controller-reference.md', 'utf8')): Map<string, ContractMetric> {
  const start = markdown.indexOf('\nMetrics');
  assert.ok(start >= 0, 'docs/controller-reference.md has no Metrics section');
  const metrics = new Map<string, ContractMetric>();
  for (const line of markdown.slice(start).split('\n').slice(1)) {
    const plural = /\(histograms\)/.test(line);
    for (const m of line.matchAll(/\b([a-z_][a-z0-9_]*)\{([^}]*)\}(\s*\(histogram\))?/g)) {
      const labels = new Set(m[2]!.split(',').map((l) => l.split('=')[0]!.trim()).filter(Boolean));
      metrics.set(m[1]!, { labels, histogram: plural || m[3] !== undefined });
    }
  }
  return metrics;
}

/** Labels Prometheus adds to every scraped series (kubernetes_sd / prometheus-operator). */
export const targetLabels = new Set(['namespace', 'pod', 'job', 'instance', 'service', 'container', 'endpoint']);
const keywords = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'offset', 'bool', 'and', 'or', 'unless', 'inf', 'nan', 'atan2']);

export interface Selector { metric: string; labels: string[] }

/** Metric names with the label names matched on each, and grouping labels, of one PromQL expression. */
export function promqlSelectors(expression: string): { selectors: Selector[]; grouping: string[] } {
  let expr = expression
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'/g, '""') // string literals
    .replace(/\$\{[^}]*\}|\$\w+/g, '1m'); // Grafana variables ($__rate_interval, ${datasource})
  const selectors: Selector[] = [];
  const grouping: string[] = [];
  const groupingClause = /\b(by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)/g;
  for (const m of expr.matchAll(groupingClause)) grouping.push(...m[2]!.split(',').map((s) => s.trim()).filter(Boolean));
  expr = expr.replace(groupingClause, ' ');
  for (const m of expr.matchAll(/([a-zA-Z_:][\w:]*)?\s*\{([^}]*)\}/g)) {
    assert.ok(m[1] !== undefined, `a selector without a metric name in: ${expression}`);
    const labels = m[2]!.split(',').map((s) => s.trim()).filter(Boolean).map((s) => s.split(/\s*(=~|!~|!=|=)\s*/)[0]!);
    selectors.push({ metric: m[1], labels });
  }
  expr = expr.replace(/\{[^}]*\}/g, ' ').replace(/\[[^\]]*\]/g, ' ');
  for (const m of expr.matchAll(/(?<![\w.])([a-zA-Z_:][\w:]*)(\s*\()?/g)) {
    const name = m[1]!;
    if (m[2] !== undefined || keywords.has(name.toLowerCase())) continue; // a function or aggregation
    if (!selectors.some((s) => s.metric === name)) selectors.push({ metric: name, labels: [] });
  }
  return { selectors, grouping };
}

/** The base metric a series name belongs to: foo_bucket/_sum/_count of a histogram foo is foo. */
export function baseMetric(name: string, histograms: (base: string) => boolean): string {
  const base = name.replace(/_(bucket|sum|count)$/, '');
  return base !== name && histograms(base) ? base : name;
}

/** Problems with one expression measured against the contract; empty when it is fine. */
export function checkExpression(where: string, expression: string, contract = contractMetrics()): string[] {
  const problems: string[] = [];
  const { selectors, grouping } = promqlSelectors(expression);
  const allowed = new Set(targetLabels);
  for (const { metric, labels } of selectors) {
    const known = contract.get(baseMetric(metric, (b) => contract.get(b)?.histogram === true));
    if (!known) {
      problems.push(`${where}: metric "${metric}" is not in docs/controller-reference.md`);
      continue;
    }
    for (const l of known.labels) allowed.add(l);
    if (metric.endsWith('_bucket')) allowed.add('le');
    for (const label of labels) {
      if (!known.labels.has(label) && !targetLabels.has(label)) problems.push(`${where}: "${metric}" has no label "${label}" in the contract`);
    }
  }
  for (const label of grouping) {
    if (!allowed.has(label)) problems.push(`${where}: groups by "${label}", which none of its metrics has`);
  }
  if (selectors.length === 0) problems.push(`${where}: no metric in "${expression}"`);
  return problems;
}

export interface Expression { where: string; expr: string }

export function dashboardExpressions(file = 'deploy/grafana/hoist-dashboard.json'): Expression[] {
  const dashboard = JSON.parse(readFileSync(file, 'utf8'));
  const out: Expression[] = [];
  const walk = (panels: any[]) => {
    for (const panel of panels) {
      for (const target of panel.targets ?? []) out.push({ where: `panel "${panel.title}" ${target.refId}`, expr: target.expr });
      walk(panel.panels ?? []);
    }
  };
  walk(dashboard.panels);
  for (const v of dashboard.templating.list) {
    if (v.type !== 'query') continue;
    const q = typeof v.query === 'string' ? v.query : v.query?.query;
    const lv = /^label_values\((.*),\s*\w+\)$/.exec(q ?? '');
    assert.ok(lv, `variable ${v.name}: only label_values(selector, label) queries are understood here`);
    out.push({ where: `variable ${v.name}`, expr: lv[1]! });
  }
  return out;
}

export function alertRules(file = 'deploy/prometheus/hoist-alerts.yaml'): any[] {
  return parse(readFileSync(file, 'utf8')).groups.flatMap((g: any) => g.rules);
}

/** Every metric name (histograms by their base name) the dashboard and the alerts query. */
export function queriedMetrics(): Set<string> {
  const contract = contractMetrics();
  const exprs = [...dashboardExpressions().map((e) => e.expr), ...alertRules().map((r) => r.expr as string)];
  return new Set(exprs.flatMap((e) => promqlSelectors(e).selectors.map((s) => baseMetric(s.metric, (b) => contract.get(b)?.histogram === true))));
}

export function lua(): string {
  for (const path of ['/usr/bin/lua5.4', '/usr/local/bin/lua5.4']) {
    try {
      accessSync(path, constants.X_OK);
      return path;
    } catch {
      // next
    }
  }
  throw new Error(`test bed part "lua5.4" is not installed (Debian package lua5.4); run: bash ${installScript}`);
}

/** A JSON value as a Lua table constructor, the way Argo CD hands objects to health scripts. */
export function toLua(value: unknown): string {
  if (value === null || value === undefined) return 'nil';
  if (typeof value === 'string') return JSON.stringify(value).replaceAll('\u2028', '\\u{2028}').replaceAll('\u2029', '\\u{2029}');
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (Array.isArray(value)) return `{${value.map(toLua).join(', ')}}`;
  if (typeof value === 'object') return `{${Object.entries(value).map(([k, v]) => `[${JSON.stringify(k)}] = ${toLua(v)}`).join(', ')}}`;
  throw new Error(`cannot express ${typeof value} in Lua`);
}

export interface Health { status: 'Healthy' | 'Progressing' | 'Degraded' | 'Suspended'; message: string }

/** Runs deploy/argocd/health.lua on an object with lua5.4, as Argo CD would. */
export async function argoHealth(object: unknown): Promise<Health> {
  const dir = mkdtempSync(join(tmpdir(), 'hoist-health-'));
  try {
    const file = join(dir, 'run.lua');
    writeFileSync(file, [
      `obj = ${toLua(object)}`,
      `local check = assert(loadfile(${JSON.stringify(resolve('deploy/argocd/health.lua'))}))`,
      'local hs = check()',
      'io.write(tostring(hs.status), "\\0", tostring(hs.message))',
      '',
    ].join('\n'));
    const { stdout } = await promisify(execFile)(lua(), [file], { encoding: 'utf8' });
    const [status, message] = stdout.split('\0');
    return { status: status as Health['status'], message: message ?? '' };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
