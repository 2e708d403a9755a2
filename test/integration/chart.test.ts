// The Helm chart against the real test bed: helm lint and helm template (defaults, and a values
// file that switches everything on), the rendered objects and the kustomize base accepted by a
// real kube-apiserver (`kubectl apply --dry-run=server`), and the chart's RBAC checked verb by
// verb with `kubectl auth can-i --as=<the chart's ServiceAccount>` against the API access that
// docs/controller-reference.md lists: everything listed is allowed, nothing else is.
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parse, parseAllDocuments } from 'yaml';
import { crdFile } from '../../src/api/crd.ts';
import { replicationCrdFile } from '../../src/api/signature-replication-crd.ts';
import { condition, getPm, spawnController, waitForReady, type ControllerProcess } from '../support/controller.ts';
import { buildImage, pushImage, type BuiltImage } from '../support/images.ts';
import { startKube, type TestKube } from '../support/kube.ts';
import { freePort } from '../support/process.ts';
import { startRegistry, type TestRegistry } from '../support/registry.ts';
import { runTool } from '../support/testbed.ts';
import { argoHealth, contractMetrics, queriedMetrics } from '../support/deploy.ts';

const chart = 'charts/hoist';
const everything = 'charts/hoist/ci/everything-values.yaml';
const releaseNamespace = 'hoist-system';
const contractText = readFileSync('docs/controller-reference.md', 'utf8');

type K8sObject = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string; annotations?: Record<string, string>; labels?: Record<string, string> }; [key: string]: any };

function objects(yaml: string): K8sObject[] {
  return parseAllDocuments(yaml).map((d) => d.toJS()).filter((o): o is K8sObject => o !== null && typeof o === 'object');
}

async function helm(args: string[]): Promise<string> {
  return runTool('helm', args);
}

async function template(values: string[] = [], release = 'hoist'): Promise<string> {
  return helm(['template', release, chart, '--namespace', releaseNamespace, ...values]);
}

async function fails(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    return `${(error as { stderr?: string }).stderr ?? ''}${(error as Error).message}`;
  }
  assert.fail('expected the command to fail');
}

/** `API group resource: verbs` lines of the contract's "Kubernetes API use" section. */
interface Access { group: string; resource: string; verbs: string[]; namespaced: 'any' | 'release' }
function contractAccess(): Access[] {
  const section = contractText.slice(contractText.indexOf('Kubernetes API use'), contractText.indexOf('\nMetrics'));
  const out: Access[] = [];
  for (const line of section.split('\n').slice(1)) {
    const m = /^\s+(\S+) (\S+)(?: \(and (\S+) (\S+)\))?: ([a-z, ]+?)\s*(\(.*)?$/.exec(line);
    if (!m) continue;
    const verbs = m[5]!.split(',').map((v) => v.trim());
    const group = m[1] === 'core' ? '' : m[1]!;
    const namespaced = m[2] === 'leases' ? 'release' : 'any';
    out.push({ group, resource: m[2]!, verbs, namespaced });
    if (m[3]) out.push({ group: m[3], resource: m[4]!, verbs, namespaced });
  }
  return out;
}

function contractFlags(): Set<string> {
  const section = contractText.slice(contractText.indexOf('Flags'), contractText.indexOf('Environment:'));
  return new Set([...section.matchAll(/--([a-z-]+)/g)].map((m) => m[1]!));
}

describe('charts/hoist', () => {
  let defaults: K8sObject[];
  let all: K8sObject[];
  let defaultsYaml: string;
  let allYaml: string;

  before(async () => {
    [defaultsYaml, allYaml] = await Promise.all([template(), template(['-f', everything])]);
    defaults = objects(defaultsYaml);
    all = objects(allYaml);
  });

  test('helm lint passes with the defaults and with everything enabled', async () => {
    const [plain, full] = await Promise.all([
      helm(['lint', '--strict', chart]),
      helm(['lint', '--strict', chart, '-f', everything]),
    ]);
    assert.match(plain, /1 chart\(s\) linted, 0 chart\(s\) failed/);
    assert.match(full, /1 chart\(s\) linted, 0 chart\(s\) failed/);
  });

  test('helm template renders the expected objects', () => {
    const kinds = (list: K8sObject[]) => list.map((o) => o.kind).sort();
    assert.deepEqual(kinds(defaults), [
      'ClusterRole', 'ClusterRoleBinding', 'CustomResourceDefinition', 'CustomResourceDefinition', 'Deployment', 'PodDisruptionBudget',
      'Role', 'RoleBinding', 'Service', 'ServiceAccount',
    ]);
    assert.deepEqual(kinds(all), [
      'ConfigMap', 'ConfigMap', 'CustomResourceDefinition', 'CustomResourceDefinition', 'Deployment', 'NetworkPolicy', 'PodDisruptionBudget', 'PodMonitor',
      'PrometheusRule', 'Role', 'Role', 'RoleBinding', 'RoleBinding', 'Service', 'ServiceAccount', 'ServiceMonitor',
    ], 'a namespaced install (watchNamespace) makes nothing cluster-scoped but the CRDs');
  });

  test('values.schema.json refuses unknown and invalid values', async () => {
    assert.match(await fails(template(['--set', 'replicas=2'])), /additional properties 'replicas' not allowed/);
    assert.match(await fails(template(['--set', 'controller.logLevel=verbose'])), /logLevel/);
    assert.match(await fails(template(['--set', 'leaderElection.leaseDuration=15'])), /leaseDuration/);
    assert.match(await fails(template(['--set', 'controller.trustedRoot=Not_A_ConfigMap'])), /trustedRoot/);
  });

  test('crds.enabled and crds.keep', async () => {
    const crd = defaults.find((o) => o.kind === 'CustomResourceDefinition' && o.metadata.name === 'promotionmanifests.hoist.dev')!;
    assert.equal(crd.metadata.annotations?.['helm.sh/resource-policy'], 'keep');
    const source = parse(readFileSync(crdFile, 'utf8'));
    assert.deepEqual({ ...crd, metadata: { name: crd.metadata.name } }, source);
    const noKeep = objects(await template(['--set', 'crds.keep=false'])).filter((o) => o.kind === 'CustomResourceDefinition');
    assert.deepEqual(noKeep.map((o) => o.metadata.annotations), [undefined, undefined]);
    const none = objects(await template(['--set', 'crds.enabled=false']));
    assert.equal(none.some((o) => o.kind === 'CustomResourceDefinition'), false);
  });

  test('the Deployment: contract flags only, probes, security context, token volume, downward API', () => {
    const deployment = defaults.find((o) => o.kind === 'Deployment')!;
    const pod = deployment.spec.template.spec;
    const [container] = pod.containers;
    assert.equal(container.args[0], 'controller');
    const flags = contractFlags();
    for (const arg of container.args.slice(1)) {
      const name = /^--([a-z-]+)/.exec(arg)?.[1];
      assert.ok(name && flags.has(name), `${arg} is not a flag in docs/controller-reference.md`);
    }
    assert.ok(container.args.includes('--leader-elect'));
    assert.ok(container.args.includes('--metrics-bind-address=:8080'));
    assert.ok(container.args.includes('--health-probe-bind-address=:8081'));

    assert.deepEqual(container.livenessProbe.httpGet, { path: '/healthz', port: 'health' });
    assert.deepEqual(container.readinessProbe.httpGet, { path: '/readyz', port: 'health' });
    assert.deepEqual(container.ports.map((p: any) => [p.name, p.containerPort]), [['metrics', 8080], ['health', 8081]]);
    // The heap is bounded below the memory limit (docs/operations.md, "Controller sizing").
    const heapMiB = Number(/--max-old-space-size=(\d+)/.exec(container.env.find((e: any) => e.name === 'NODE_OPTIONS')?.value ?? '')?.[1]);
    const limitMiB = Number(/^(\d+)Mi$/.exec(container.resources.limits.memory)?.[1]);
    assert.ok(heapMiB > 0 && limitMiB > heapMiB, `--max-old-space-size ${heapMiB} under the ${limitMiB}Mi limit`);

    assert.equal(pod.securityContext.runAsNonRoot, true);
    assert.equal(pod.securityContext.runAsUser, 65532);
    assert.deepEqual(pod.securityContext.seccompProfile, { type: 'RuntimeDefault' });
    const sc = container.securityContext;
    assert.equal(sc.allowPrivilegeEscalation, false);
    assert.equal(sc.readOnlyRootFilesystem, true);
    assert.deepEqual(sc.capabilities, { drop: ['ALL'] });
    assert.deepEqual(sc.seccompProfile, { type: 'RuntimeDefault' });

    const mounts = new Map(container.volumeMounts.map((m: any) => [m.name, m.mountPath]));
    const volumes = new Map(pod.volumes.map((v: any) => [v.name, v]));
    assert.equal(mounts.get('tmp'), '/tmp');
    assert.ok((volumes.get('tmp') as any).emptyDir);
    const tokenPath = /--keyless-token-path PATH[\s\S]*?default (\S+)/.exec(contractText)?.[1];
    assert.equal(`${mounts.get('sigstore-token')}/token`, tokenPath);
    assert.deepEqual((volumes.get('sigstore-token') as any).projected.sources, [
      { serviceAccountToken: { audience: 'sigstore', expirationSeconds: 600, path: 'token' } },
    ]);
    assert.ok(container.args.includes(`--keyless-token-path=${tokenPath}`));

    const env = new Map(container.env.map((e: any) => [e.name, e.valueFrom?.fieldRef?.fieldPath]));
    assert.equal(env.get('POD_NAMESPACE'), 'metadata.namespace');
    assert.equal(env.get('POD_NAME'), 'metadata.name');
    assert.equal(pod.serviceAccountName, 'hoist');
  });

  test('extraArgs, extraEnv, sharding and the namespace-scoped binding with everything enabled', () => {
    const deployment = all.find((o) => o.kind === 'Deployment')!;
    const [container] = deployment.spec.template.spec.containers;
    assert.equal(deployment.spec.replicas, 2);
    assert.equal(container.image, 'registry.example.com/hoist/hoist@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef');
    assert.ok(container.args.includes('--selector=hoist.dev/shard=a'));
    assert.ok(container.args.includes('--namespace=releng'));
    assert.ok(container.args.includes('--allowed-registries=registry.k8s.io,us-central1-docker.pkg.dev'));
    assert.ok(container.args.includes('--signing-namespaces=releng'));
    for (const arg of ['--rekor-url=https://rekor.sigstore.dev', '--timestamp-server-url=https://timestamp.sigstore.dev/api/v1/timestamp',
      '--signing-config=/etc/hoist/signing/signing_config.json', '--retry-budget=15m', '--edge-timeout=45m', '--trusted-realm=registry.example.com=auth.example.net']) {
      assert.ok(container.args.includes(arg), arg);
    }
    assert.equal(container.args.at(-1), '--log-level=warn');
    assert.equal(container.env.filter((e: any) => e.name === 'NODE_OPTIONS').length, 1, 'extraEnv\'s NODE_OPTIONS replaces nodeOptions: one entry');
    const binding = all.find((o) => o.kind === 'RoleBinding' && o.metadata.name === 'hoist-controller')!;
    assert.equal(binding.metadata.namespace, 'releng');
    assert.deepEqual(binding.roleRef, { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'hoist-controller' });
    assert.equal(all.some((o) => o.kind === 'ClusterRoleBinding' || o.kind === 'ClusterRole'), false);
    assert.deepEqual(all.find((o) => o.kind === 'PodDisruptionBudget')!.spec.minAvailable, 1);
  });

  test('controller.trustedRoot: inline JSON becomes a ConfigMap, a name mounts that ConfigMap; either is --trusted-root', async () => {
    const flag = /--trusted-root FILE/;
    assert.match(contractText, flag, 'docs/controller-reference.md lists --trusted-root');
    const mounted = (list: K8sObject[]) => {
      const pod = list.find((o) => o.kind === 'Deployment')!.spec.template.spec;
      const [container] = pod.containers;
      const arg = (container.args as string[]).find((a) => a.startsWith('--trusted-root='));
      const mount = container.volumeMounts.find((m: any) => m.name === 'sigstore-trusted-root');
      const volume = pod.volumes.find((v: any) => v.name === 'sigstore-trusted-root');
      return { arg, mount, volume, annotations: list.find((o) => o.kind === 'Deployment')!.spec.template.metadata.annotations };
    };
    assert.equal(mounted(defaults).arg, undefined);
    assert.equal(defaults.some((o) => o.kind === 'ConfigMap'), false);

    const inline = mounted(all);
    const configMap = all.find((o) => o.kind === 'ConfigMap' && o.metadata.name === 'hoist-trusted-root')!;
    assert.equal(configMap.metadata.name, 'hoist-trusted-root');
    assert.ok(JSON.parse(configMap.data['trusted_root.json']).certificateAuthorities.length > 0);
    assert.equal(inline.arg, `--trusted-root=${inline.mount.mountPath}/trusted_root.json`);
    assert.equal(inline.mount.readOnly, true);
    assert.deepEqual(inline.volume.configMap, { name: 'hoist-trusted-root', items: [{ key: 'trusted_root.json', path: 'trusted_root.json' }] });
    assert.match(inline.annotations['checksum/trusted-root'], /^[0-9a-f]{64}$/, 'a new inline root rolls the pods');

    const named = objects(await template(['--set', 'controller.trustedRoot=sigstore-root']));
    assert.equal(named.some((o) => o.kind === 'ConfigMap'), false);
    assert.equal(mounted(named).volume.configMap.name, 'sigstore-root');
    assert.equal(mounted(named).arg, inline.arg);
  });

  test('the default chart writes to no public log: no --rekor-url unless asked', () => {
    const [container] = defaults.find((o) => o.kind === 'Deployment')!.spec.template.spec.containers;
    assert.equal((container.args as string[]).some((a) => a.startsWith('--rekor-url') || a.startsWith('--timestamp-server-url')), false);
    assert.ok(container.args.includes('--retry-budget=10m') && container.args.includes('--edge-timeout=30m'));
  });

  test('metrics.prometheusRule and metrics.grafanaDashboard install the alerts and the dashboard as they are in deploy/', () => {
    const rule = all.find((o) => o.kind === 'PrometheusRule')!;
    assert.deepEqual(rule.spec.groups, parse(readFileSync('deploy/prometheus/hoist-alerts.yaml', 'utf8')).groups);
    assert.equal(rule.metadata.labels?.release, 'prometheus');
    const dashboard = all.find((o) => o.kind === 'ConfigMap' && o.metadata.name === 'hoist-dashboard')!;
    assert.equal(dashboard.metadata.labels?.grafana_dashboard, '1', 'the Grafana sidecar convention');
    assert.equal(dashboard.metadata.annotations?.grafana_folder, 'Hoist');
    assert.deepEqual(JSON.parse(dashboard.data['hoist-dashboard.json']), JSON.parse(readFileSync('deploy/grafana/hoist-dashboard.json', 'utf8')));
    assert.equal(defaults.some((o) => o.kind === 'PrometheusRule' || o.metadata.name === 'hoist-dashboard'), false, 'off by default');
    for (const monitor of all.filter((o) => o.kind === 'ServiceMonitor' || o.kind === 'PodMonitor')) {
      const endpoints = monitor.spec.endpoints ?? monitor.spec.podMetricsEndpoints;
      assert.equal(endpoints[0].honorLabels, true, `${monitor.kind}: the resource's namespace label wins over the target's`);
    }
  });

  test('the ClusterRole and Role hold exactly the contract\'s API access', () => {
    const rules = defaults.filter((o) => o.kind === 'ClusterRole' || o.kind === 'Role').flatMap((o) =>
      o.rules.flatMap((r: any) => r.apiGroups.flatMap((g: string) => r.resources.map((res: string) => ({
        kind: o.kind, group: g, resource: res, verbs: [...r.verbs].sort(),
      })))));
    const expected = contractAccess().flatMap((a) => {
      const kind = a.namespaced === 'release' ? 'Role' : 'ClusterRole';
      return [{ kind, group: a.group, resource: a.resource, verbs: [...a.verbs].sort() }];
    });
    assert.equal(expected.length, 8, 'the contract lists eight resources');
    const key = (r: { kind: string; group: string; resource: string }) => `${r.kind} ${r.group}/${r.resource}`;
    assert.deepEqual(rules.sort((a, b) => key(a).localeCompare(key(b))), expected.sort((a, b) => key(a).localeCompare(key(b))));
  });

  describe('on a real kube-apiserver', () => {
    let kube: TestKube;
    let work: string;
    const kubectl = (args: string[], input?: string) =>
      runTool('kubectl', [`--kubeconfig=${kube.kubeconfig}`, ...args], input === undefined ? {} : { input });

    before(async () => {
      kube = await startKube();
      work = mkdtempSync(join(tmpdir(), 'hoist-chart-'));
      await kubectl(['apply', '--server-side', '-f', crdFile]);
      await kubectl(['apply', '--server-side', '-f', replicationCrdFile]);
      // prometheus-operator's kinds, as schemaless stand-ins, so ServiceMonitor/PodMonitor validate.
      const stub = (kind: string, plural: string) => `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: { name: ${plural}.monitoring.coreos.com }
spec:
  group: monitoring.coreos.com
  names: { kind: ${kind}, plural: ${plural}, singular: ${kind.toLowerCase()}, listKind: ${kind}List }
  scope: Namespaced
  versions:
    - name: v1
      served: true
      storage: true
      schema: { openAPIV3Schema: { type: object, x-kubernetes-preserve-unknown-fields: true } }
`;
      await kubectl(['apply', '-f', '-'], `${stub('ServiceMonitor', 'servicemonitors')}---\n${stub('PodMonitor', 'podmonitors')}---\n${stub('PrometheusRule', 'prometheusrules')}`);
      await kubectl(['wait', '--for=condition=established', '--timeout=60s',
        'crd/promotionmanifests.hoist.dev', 'crd/signaturereplications.hoist.dev', 'crd/servicemonitors.monitoring.coreos.com', 'crd/podmonitors.monitoring.coreos.com', 'crd/prometheusrules.monitoring.coreos.com']);
      for (const ns of [releaseNamespace, 'releng', 'sig-storage', 'other']) await kubectl(['create', 'namespace', ns]);
    });
    after(async () => {
      await kube?.stop();
      if (work) rmSync(work, { recursive: true, force: true });
    });

    test('the default render applies (server-side dry run)', async () => {
      const out = await kubectl(['apply', '--dry-run=server', '-f', '-'], defaultsYaml);
      assert.match(out, /deployment\.apps\/hoist-controller created \(server dry run\)/);
      assert.match(out, /clusterrole\.rbac\.authorization\.k8s\.io\/hoist-controller created \(server dry run\)/);
    });

    test('the render with everything enabled applies (server-side dry run)', async () => {
      const out = await kubectl(['apply', '--dry-run=server', '-f', '-'], allYaml);
      for (const kind of ['networkpolicy', 'servicemonitor', 'podmonitor', 'poddisruptionbudget', 'rolebinding', 'prometheusrule']) {
        assert.match(out, new RegExp(`${kind}[^ ]*/hoist-controller (created|configured|unchanged) \\(server dry run\\)`), out);
      }
    });

    test('the kustomize base applies (server-side dry run)', async () => {
      const out = await kubectl(['apply', '--dry-run=server', '-k', 'deploy/base']);
      assert.match(out, /namespace\/hoist-system (configured|unchanged|created) \(server dry run\)/);
      assert.match(out, /deployment\.apps\/hoist-controller created \(server dry run\)/);
    });

    test('the recorded statuses are accepted by the CRD\'s status schema', async () => {
      const dir = 'test/fixtures/statuses';
      for (const file of readdirSync(dir).filter((f) => /\.(ya?ml|json)$/.test(f))) {
        const text = readFileSync(join(dir, file), 'utf8');
        const object = file.endsWith('.json') ? JSON.parse(text) : parse(text);
        const name = `${object.metadata.name}-${file.replace(/\.\w+$/, '')}`.slice(0, 63);
        const created = { apiVersion: object.apiVersion, kind: object.kind, spec: object.spec,
          metadata: { name, namespace: object.metadata.namespace, labels: object.metadata.labels } };
        await kubectl(['create', '-f', '-'], JSON.stringify(created));
        if (!object.status) continue;
        await kubectl(['patch', 'pm', name, '-n', object.metadata.namespace, '--subresource=status', '--type=merge',
          '-p', JSON.stringify({ status: object.status })]);
        const stored = JSON.parse(await kubectl(['get', 'pm', name, '-n', object.metadata.namespace, '-o', 'json']));
        assert.deepEqual(stored.status, object.status, file);
      }
    });

    describe('RBAC: exactly the contract, as the chart\'s ServiceAccount', () => {
      const sa = `system:serviceaccount:${releaseNamespace}:hoist`;
      const allVerbs = ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete', 'deletecollection'];

      /** `kubectl auth can-i`; a resource written plural.group/subresource is split for --subresource. */
      async function canI(verb: string, resource: string, namespace: string, as = sa): Promise<boolean> {
        const [plural, subresource] = resource.split('/');
        const args = ['auth', 'can-i', verb, plural!, '-n', namespace, `--as=${as}`, ...(subresource ? [`--subresource=${subresource}`] : [])];
        try {
          return (await kubectl(args)).trim() === 'yes';
        } catch (error) {
          const out = String((error as { stdout?: string }).stdout ?? '').trim();
          if (out === 'no') return false;
          throw error;
        }
      }
      const ref = (group: string, resource: string) => {
        const [plural, sub] = resource.split('/');
        return `${plural}${group ? `.${group}` : ''}${sub ? `/${sub}` : ''}`;
      };

      before(async () => {
        const rbac = defaults.filter((o) => ['ServiceAccount', 'ClusterRole', 'ClusterRoleBinding', 'Role', 'RoleBinding'].includes(o.kind));
        const file = join(work, 'rbac.json');
        writeFileSync(file, JSON.stringify({ apiVersion: 'v1', kind: 'List', items: rbac }));
        await kubectl(['apply', '-f', file]);
      });

      test('every verb the contract lists is allowed, and no other verb on those resources', async () => {
        const wrong: string[] = [];
        await Promise.all(contractAccess().flatMap((a) => allVerbs.map(async (verb) => {
          const resource = ref(a.group, a.resource);
          const listed = a.verbs.includes(verb);
          for (const ns of a.namespaced === 'release' ? [releaseNamespace] : ['releng', 'sig-storage', releaseNamespace]) {
            const allowed = await canI(verb, resource, ns);
            if (allowed !== listed) wrong.push(`${verb} ${resource} in ${ns}: ${allowed ? 'allowed' : 'denied'}, contract says ${listed ? 'allowed' : 'not'}`);
          }
        })));
        assert.deepEqual(wrong.sort(), []);
      });

      test('leases only in the release namespace', async () => {
        for (const verb of ['get', 'create', 'update']) {
          assert.equal(await canI(verb, 'leases.coordination.k8s.io', 'other'), false, `${verb} leases in other`);
        }
      });

      test('nothing outside the contract: secrets writes, pods, configmaps, deployments, namespaces, RBAC', async () => {
        const outside: [string, string][] = [
          ['delete', 'secrets'], ['create', 'secrets'], ['update', 'secrets'], ['create', 'pods'], ['get', 'pods'],
          ['list', 'configmaps'], ['watch', 'configmaps'], ['update', 'promotionmanifests.hoist.dev/status'], ['create', 'events.events.k8s.io'], ['create', 'deployments.apps'], ['list', 'namespaces'], ['create', 'serviceaccounts/token'],
          ['create', 'rolebindings.rbac.authorization.k8s.io'], ['escalate', 'clusterroles.rbac.authorization.k8s.io'],
          ['impersonate', 'serviceaccounts'], ['delete', 'promotionmanifests.hoist.dev'], ['create', 'promotionmanifests.hoist.dev'],
          ['update', 'promotionmanifests.hoist.dev'], ['patch', 'promotionmanifests.hoist.dev'], ['update', 'customresourcedefinitions.apiextensions.k8s.io'],
          ['update', 'signaturereplications.hoist.dev/status'], ['create', 'signaturereplications.hoist.dev'], ['patch', 'signaturereplications.hoist.dev'], ['delete', 'signaturereplications.hoist.dev'],
        ];
        const allowed = (await Promise.all(outside.map(async ([verb, resource]) => (await canI(verb, resource, 'releng')) ? `${verb} ${resource}` : ''))).filter(Boolean);
        assert.deepEqual(allowed, []);
      });

      test('with controller.watchNamespace the grant covers that namespace only', async () => {
        const scoped = objects(await template(['--set', 'controller.watchNamespace=releng', '--set', 'crds.enabled=false'], 'shard'))
          .filter((o) => ['ServiceAccount', 'ClusterRole', 'ClusterRoleBinding', 'Role', 'RoleBinding'].includes(o.kind));
        const file = join(work, 'rbac-scoped.json');
        writeFileSync(file, JSON.stringify({ apiVersion: 'v1', kind: 'List', items: scoped }));
        await kubectl(['apply', '-f', file]);
        const as = `system:serviceaccount:${releaseNamespace}:shard-hoist`;
        assert.equal(await canI('watch', 'promotionmanifests.hoist.dev', 'releng', as), true);
        assert.equal(await canI('get', 'secrets', 'releng', as), true);
        assert.equal(await canI('patch', 'promotionmanifests.hoist.dev/status', 'releng', as), true);
        assert.equal(await canI('get', 'secrets', 'sig-storage', as), false);
        assert.equal(await canI('list', 'promotionmanifests.hoist.dev', 'sig-storage', as), false);
        assert.equal(await canI('create', 'leases.coordination.k8s.io', releaseNamespace, as), true);
        assert.equal(scoped.some((o) => o.kind === 'ClusterRole' || o.kind === 'ClusterRoleBinding'), false, 'installable by a namespace admin');
      });

      describe('hoist controller with the chart\'s args and only the chart\'s RBAC (a ServiceAccount token)', () => {
        let staging: TestRegistry;
        let prod: TestRegistry;
        let image: BuiltImage;
        let saKubeconfig: string;
        let controllerArgs: string[];
        const prodUser = { username: 'pusher', password: 'push-secret-1' };
        const clusterRole = () => defaults.find((o) => o.kind === 'ClusterRole')!;

        const manifestYaml = (name: string, secret: string) => `apiVersion: hoist.dev/v1alpha1
kind: PromotionManifest
metadata:
  name: ${name}
  namespace: releng
spec:
  registries:
    - name: ${staging.host}/staging
      src: true
    - name: ${prod.host}/prod
      credentials:
        secretRef:
          name: ${secret}
  images:
    - name: app
      dmap:
        "${image.digest}": ["v1.0.0"]
`;

        async function startHoist(waitForSync = true): Promise<ControllerProcess> {
          const [metricsPort, healthPort] = await Promise.all([freePort(), freePort()]);
          const args = controllerArgs.map((a) => a
            .replace(/^--metrics-bind-address=.*/, `--metrics-bind-address=127.0.0.1:${metricsPort}`)
            .replace(/^--health-probe-bind-address=.*/, `--health-probe-bind-address=127.0.0.1:${healthPort}`));
          const controller = spawnController(kube, [...args, `--kubeconfig=${saKubeconfig}`], { POD_NAMESPACE: releaseNamespace, POD_NAME: 'hoist-controller-test-0' });
          Object.assign(controller, { metricsPort, healthPort });
          if (waitForSync) await controller.waitForLog('caches synced', (l) => /caches synced/.test(l.msg), 60_000);
          return controller;
        }

        async function stopHoist(controller: ControllerProcess | undefined): Promise<void> {
          if (!controller) return;
          controller.kill('SIGTERM');
          const timer = setTimeout(() => controller.kill('SIGKILL'), 15_000);
          await controller.exited;
          clearTimeout(timer);
        }

        async function withRole(rules: any[], body: () => Promise<void>): Promise<void> {
          const role = clusterRole();
          await kubectl(['apply', '-f', '-'], JSON.stringify({ ...role, rules }));
          try {
            await body();
          } finally {
            await kubectl(['apply', '-f', '-'], JSON.stringify(role));
          }
        }

        before(async () => {
          [staging, prod] = await Promise.all([startRegistry(), startRegistry({ kind: 'basic', ...prodUser })]);
          image = buildImage();
          await pushImage(staging, 'staging/app', image);
          await kubectl(['create', 'secret', 'docker-registry', 'prod-push', '-n', 'releng', `--docker-server=${prod.host}`,
            `--docker-username=${prodUser.username}`, `--docker-password=${prodUser.password}`]);
          const token = (await kubectl(['create', 'token', 'hoist', '-n', releaseNamespace, '--duration=1h'])).trim();
          saKubeconfig = join(work, 'hoist-sa.kubeconfig');
          writeFileSync(saKubeconfig, [
            'apiVersion: v1', 'kind: Config', 'current-context: hoist',
            'clusters:', '- name: test', '  cluster:', `    server: ${kube.server}`, `    certificate-authority: ${kube.caPath}`,
            'users:', '- name: hoist', '  user:', `    token: ${token}`,
            'contexts:', '- name: hoist', '  context:', '    cluster: test', '    user: hoist', '',
          ].join('\n'));
          const deployment = defaults.find((o) => o.kind === 'Deployment')!;
          controllerArgs = (deployment.spec.template.spec.containers[0].args as string[]).slice(1)
            .map((a) => a.replace('$(POD_NAMESPACE)', releaseNamespace));
        });
        after(async () => {
          await Promise.all([staging?.stop(), prod?.stop()]);
        });

        test('it promotes, records events, holds the Lease and serves every metric the dashboard and alerts use', async () => {
          const controller = await startHoist();
          const { metricsPort, healthPort } = controller as unknown as { metricsPort: number; healthPort: number };
          try {
            await kubectl(['apply', '-f', '-'], manifestYaml('app', 'prod-push'));
            const pm = await waitForReady(kube, 'app', 'True', 120_000, 'releng');
            assert.equal(pm.status?.counts?.promoted, 1, JSON.stringify(pm.status));

            const res = await fetch(`${prod.url}/v2/prod/app/manifests/v1.0.0`, {
              headers: { authorization: `Basic ${Buffer.from(`${prodUser.username}:${prodUser.password}`).toString('base64')}`, accept: image.mediaType },
            });
            assert.equal(res.status, 200);
            assert.equal(res.headers.get('docker-content-digest'), image.digest);
            await res.arrayBuffer();

            const lease = JSON.parse(await kubectl(['get', 'lease', 'hoist-controller', '-n', releaseNamespace, '-o', 'json']));
            assert.equal(lease.spec.holderIdentity, 'hoist-controller-test-0');
            const events = JSON.parse(await kubectl(['get', 'events', '-n', 'releng', '-o', 'json'])).items;
            assert.ok(events.some((e: any) => e.involvedObject.kind === 'PromotionManifest' && e.involvedObject.name === 'app'), 'no Event on the PromotionManifest');

            for (const path of ['/healthz', '/readyz']) {
              const probe = await fetch(`http://127.0.0.1:${healthPort}${path}`);
              assert.equal(probe.status, 200, path);
              await probe.arrayBuffer();
            }
            const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
            const exported = new Set([...metrics.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]!));
            const missing = [...queriedMetrics()].filter((name) => !exported.has(name));
            assert.deepEqual(missing, [], 'the dashboard or the alerts query metrics the controller does not export');
            const contract = [...contractMetrics().keys()].filter((name) => !exported.has(name));
            assert.deepEqual(contract, [], 'the contract lists metrics the controller does not export');

            // The status the controller wrote, through the Argo CD health check.
            assert.deepEqual(await argoHealth(pm), { status: 'Healthy', message: `${condition(pm, 'Ready')!.reason}: ${condition(pm, 'Ready')!.message}` });
            assert.equal(condition(pm, 'Ready')!.reason, 'Succeeded');

            // A missing Secret: Stalled, and Degraded for Argo CD.
            await kubectl(['apply', '-f', '-'], manifestYaml('app-no-secret', 'does-not-exist'));
            const stalled = await waitForReady(kube, 'app-no-secret', 'False', 60_000, 'releng');
            assert.equal(condition(stalled, 'Stalled')?.status, 'True');
            assert.equal(condition(stalled, 'Stalled')?.reason, 'SecretNotFound');
            const health = await argoHealth(stalled);
            assert.equal(health.status, 'Degraded');
            assert.match(health.message, /^SecretNotFound: /);
          } finally {
            await stopHoist(controller);
          }
        });

        test('without list/watch on Secrets it fails to start: exit 1 naming the permission, before anything reports ready', async () => {
          const rules = clusterRole().rules.filter((r: any) => !r.resources.includes('secrets'));
          await withRole(rules, async () => {
            const controller = await startHoist(false);
            const { healthPort } = controller as unknown as { healthPort: number };
            const { code } = await controller.exited;
            assert.equal(code, 1);
            assert.match(controller.stderr(), /listing Secret metadata: 403: .*the controller's RBAC must allow list and watch on secrets/);
            await assert.rejects(fetch(`http://127.0.0.1:${healthPort}/readyz`), 'the probes never served');
          });
        });

        test('a Lease namespace that does not exist fails the start (exit 1), not a standby that never leads', async () => {
          const wrong = spawnController(kube, [...controllerArgs.map((a) => a.replace(/^--leader-election-namespace=.*/, '--leader-election-namespace=no-such-namespace'))
            .map((a) => a.replace(/^--(metrics|health-probe)-bind-address=.*/, '--$1-bind-address=0')), `--kubeconfig=${saKubeconfig}`]);
          const { code } = await wrong.exited;
          assert.equal(code, 1);
          assert.match(wrong.stderr(), /--leader-elect: the Lease no-such-namespace\/hoist-controller: 40[34]/);
        });

        test('without update/patch on promotionmanifests/status it cannot report anything', async () => {
          const rules = clusterRole().rules.filter((r: any) => !r.resources.includes('promotionmanifests/status'));
          await withRole(rules, async () => {
            const controller = await startHoist();
            try {
              await kubectl(['apply', '-f', '-'], manifestYaml('app-forbidden-status', 'prod-push'));
              await controller.waitForLog('a Forbidden error', (l) => /forbidden|\b403\b/i.test(JSON.stringify(l)), 60_000);
              const pm = await getPm(kube, 'app-forbidden-status', 'releng');
              assert.equal(pm.status, undefined);
            } finally {
              await stopHoist(controller);
            }
          });
        });
      });
    });
  });
});
