// deploy/base (the kustomize base) is exactly what scripts/generate-deploy.sh renders from the
// Helm chart's defaults, and the chart's CRD copy is exactly crds/ (scripts/sync-chart-crds.sh).
// Needs the test bed's helm (scripts/testbed/install.sh).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { parse, parseAllDocuments } from 'yaml';
import { tool } from '../support/testbed.ts';

const run = promisify(execFile);
const work = mkdtempSync(join(tmpdir(), 'hoist-deploy-'));
after(() => rmSync(work, { recursive: true, force: true }));

describe('deploy/base is the chart rendered with its defaults', () => {
  test('scripts/generate-deploy.sh reproduces deploy/base file for file', async () => {
    const out = join(work, 'base');
    await run('bash', ['scripts/generate-deploy.sh', out], { env: { ...process.env, HELM: tool('helm') } });
    const committed = readdirSync('deploy/base').sort();
    assert.deepEqual(readdirSync(out).sort(), committed, 'files differ; run scripts/generate-deploy.sh');
    for (const file of committed) {
      assert.ok(readFileSync(join(out, file), 'utf8') === readFileSync(join('deploy/base', file), 'utf8'),
        `deploy/base/${file} is out of date with charts/hoist; run scripts/generate-deploy.sh`);
    }
  });

  test('the kustomization lists every file, and nothing Helm-specific is left', () => {
    const kustomization = parse(readFileSync('deploy/base/kustomization.yaml', 'utf8'));
    const files = readdirSync('deploy/base').filter((f) => f !== 'kustomization.yaml').sort();
    assert.deepEqual([...kustomization.resources].sort(), files);
    for (const file of files) {
      const text = readFileSync(join('deploy/base', file), 'utf8');
      assert.doesNotMatch(text, /helm\.sh\/chart|managed-by: Helm|\{\{/, file);
    }
  });

  test('the chart\'s CRD template is crds/ plus labels and the keep annotation', async () => {
    const { stdout } = await run('bash', ['scripts/sync-chart-crds.sh', '--check']);
    assert.match(stdout, /in sync/);
    const base = parseAllDocuments(readFileSync('deploy/base/hoist.dev_promotionmanifests.yaml', 'utf8')).map((d) => d.toJS());
    const source = parse(readFileSync('crds/hoist.dev_promotionmanifests.yaml', 'utf8'));
    assert.equal(base.length, 1);
    const rendered = base[0];
    assert.equal(rendered.metadata.annotations['helm.sh/resource-policy'], 'keep');
    assert.equal(rendered.metadata.labels['app.kubernetes.io/name'], 'hoist');
    delete rendered.metadata.annotations;
    delete rendered.metadata.labels;
    assert.deepEqual(rendered, source);
  });
});
