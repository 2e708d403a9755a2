// A real Kubernetes API server for tests, run the way controller-runtime's envtest runs it:
// etcd plus kube-apiserver on loopback, admin credentials, a kubeconfig in a temporary folder.
// No controller-manager or scheduler: tests create what they need.
import { execFileSync, type ExecFileSyncOptions } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, fetch as undiciFetch } from 'undici';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, startServer, waitUntil, type Server } from './process.ts';
import { tool } from './testbed.ts';

export interface TestKube {
  /** https://127.0.0.1:PORT */
  server: string;
  kubeconfig: string;
  adminToken: string;
  caPath: string;
  /** Runs the test bed's kubectl against this API server; returns stdout. */
  kubectl(args: string[], options?: { input?: string }): string;
  /**
   * Stops kube-apiserver and starts it again on the same port over the same etcd data, so
   * clients see their watches dropped and connections refused for a while.
   */
  restartApiServer(options?: { downMs?: number }): Promise<void>;
  stop(): Promise<void>;
}

function openssl(dir: string, args: string[]): void {
  execFileSync(tool('openssl'), args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
}

function makeCertificates(dir: string): void {
  openssl(dir, ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=hoist-test-ca']);
  writeFileSync(join(dir, 'san.cnf'), 'subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes.default.svc\n');
  openssl(dir, ['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=kube-apiserver']);
  openssl(dir, ['x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.crt', '-days', '2', '-extfile', 'san.cnf']);
  openssl(dir, ['genrsa', '-out', 'sa.key', '2048']);
  openssl(dir, ['rsa', '-in', 'sa.key', '-pubout', '-out', 'sa.pub']);
}

export async function startKube(): Promise<TestKube> {
  const etcdBin = tool('etcd');
  const apiserverBin = tool('kube-apiserver');
  const kubectlBin = tool('kubectl');
  const dir = mkdtempSync(join(tmpdir(), 'hoist-kube-'));
  // etcd's data on tmpfs with fsync off: a test cluster needs speed, not durability.
  const dataDir = mkdtempSync(join('/dev/shm', 'hoist-etcd-'));
  makeCertificates(dir);
  const adminToken = `admin-${Date.now().toString(36)}`;
  writeFileSync(join(dir, 'tokens.csv'), `${adminToken},admin,admin,system:masters\n`);

  const [etcdClient, etcdPeer, securePort] = await Promise.all([freePort(), freePort(), freePort()]);
  const etcd = startServer(`etcd :${etcdClient}`, etcdBin, [
    `--data-dir=${dataDir}`, `--listen-client-urls=http://127.0.0.1:${etcdClient}`,
    `--advertise-client-urls=http://127.0.0.1:${etcdClient}`, `--listen-peer-urls=http://127.0.0.1:${etcdPeer}`,
    `--initial-advertise-peer-urls=http://127.0.0.1:${etcdPeer}`, `--initial-cluster=default=http://127.0.0.1:${etcdPeer}`,
    '--unsafe-no-fsync', '--log-level=warn',
  ]);
  await waitUntil(etcd, 'healthy', async () => (await fetch(`http://127.0.0.1:${etcdClient}/health`)).ok);

  const server = `https://127.0.0.1:${securePort}`;
  const apiserverArgs = [
    `--etcd-servers=http://127.0.0.1:${etcdClient}`, '--bind-address=127.0.0.1', '--advertise-address=127.0.0.1',
    `--secure-port=${securePort}`, `--cert-dir=${dir}`, `--tls-cert-file=${join(dir, 'server.crt')}`,
    `--tls-private-key-file=${join(dir, 'server.key')}`, `--client-ca-file=${join(dir, 'ca.crt')}`,
    `--token-auth-file=${join(dir, 'tokens.csv')}`, '--authorization-mode=RBAC',
    '--service-cluster-ip-range=10.0.0.0/24', `--service-account-issuer=${server}/`,
    `--service-account-key-file=${join(dir, 'sa.pub')}`, `--service-account-signing-key-file=${join(dir, 'sa.key')}`,
    '--disable-admission-plugins=ServiceAccount', '--allow-privileged=true', '--v=0',
  ];
  const launch = () => startServer(`kube-apiserver :${securePort}`, apiserverBin, apiserverArgs);
  let apiserver: Server = launch();

  const caPath = join(dir, 'ca.crt');
  const dispatcher = new Agent({ connect: { ca: readFileSync(caPath) } });
  const ready = async (path: string) => {
    const res = await undiciFetch(`${server}${path}`, { headers: { authorization: `Bearer ${adminToken}` }, dispatcher });
    await res.arrayBuffer();
    return res.ok;
  };
  const waitReady = () => waitUntil(apiserver, 'ready', async () => (await ready('/readyz')) && (await ready('/api/v1/namespaces/default')), 120_000);
  try {
    await waitReady();
  } finally {
    await dispatcher.close();
  }

  const kubeconfig = join(dir, 'kubeconfig');
  writeFileSync(kubeconfig, [
    'apiVersion: v1', 'kind: Config', 'current-context: hoist-test',
    'clusters:', '- name: hoist-test', '  cluster:', `    server: ${server}`, `    certificate-authority: ${caPath}`,
    'users:', '- name: admin', '  user:', `    token: ${adminToken}`,
    'contexts:', '- name: hoist-test', '  context:', '    cluster: hoist-test', '    user: admin', '    namespace: default',
    '',
  ].join('\n'));

  return {
    server, kubeconfig, adminToken, caPath,
    kubectl(args, options = {}) {
      const opts: ExecFileSyncOptions = { encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'], input: options.input ?? '' };
      return execFileSync(kubectlBin, [`--kubeconfig=${kubeconfig}`, ...args], opts) as unknown as string;
    },
    async restartApiServer(options = {}) {
      await apiserver.stop();
      await new Promise((r) => setTimeout(r, options.downMs ?? 0));
      apiserver = launch();
      const again = new Agent({ connect: { ca: readFileSync(caPath) } });
      const probe = async (path: string) => {
        const res = await undiciFetch(`${server}${path}`, { headers: { authorization: `Bearer ${adminToken}` }, dispatcher: again });
        await res.arrayBuffer();
        return res.ok;
      };
      try {
        await waitUntil(apiserver, 'ready after restart', async () => (await probe('/readyz')) && (await probe('/api/v1/namespaces/default')), 120_000);
      } finally {
        await again.close();
      }
    },
    async stop() {
      await apiserver.stop();
      await etcd.stop();
      rmSync(dir, { recursive: true, force: true });
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
