// The keyless test bed: a real kube-apiserver whose ServiceAccount tokens a real Fulcio (with an
// ephemeral CA) accepts, the service accounts a test signs as, and cosign's matching flags.
// Shared by every keyless test so each sets up the same, known-good world.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startFulcio, type TestFulcio } from './fulcio.ts';
import { startKube, type TestKube } from './kube.ts';
import { runTool } from './testbed.ts';

export interface KeylessBed {
  kube: TestKube;
  fulcio: TestFulcio;
  /** The ServiceAccount issuer Fulcio trusts (the API server's URL with a trailing slash). */
  issuer: string;
  dir: string;
  /** A cosign signing config that names this Fulcio and no transparency log. */
  signingConfig: string;
  /** The certificate subject Fulcio gives a ServiceAccount of the default namespace. */
  subject(serviceAccount: string): string;
  token(serviceAccount: string): string;
  /** A file holding a fresh token, as a projected volume would. */
  tokenFile(serviceAccount: string): string;
  /** cosign verify flags for a keyless signature by that ServiceAccount. */
  cosignIdentityFlags(serviceAccount: string): string[];
  stop(): Promise<void>;
}

export async function startKeylessBed(serviceAccounts: string[]): Promise<KeylessBed> {
  const dir = mkdtempSync(join(tmpdir(), 'hoist-keyless-'));
  const kube = await startKube();
  const issuer = `${kube.server}/`;
  // Fulcio fetches the issuer's discovery document and keys anonymously.
  kube.kubectl(['create', 'clusterrolebinding', 'oidc-discovery-anonymous', '--clusterrole=system:service-account-issuer-discovery', '--group=system:unauthenticated']);
  for (const sa of serviceAccounts) kube.kubectl(['create', 'serviceaccount', sa, '-n', 'default']);
  const fulcio = await startFulcio({ url: issuer, type: 'kubernetes', caPath: kube.caPath });
  const signingConfig = join(dir, 'signing-config.json');
  await runTool('cosign', ['signing-config', 'create', '--fulcio', `url=${fulcio.url},api-version=1,start-time=2024-01-01T00:00:00Z,operator=hoist-test`, '--out', signingConfig]);
  const subject = (sa: string) => `https://kubernetes.io/namespaces/default/serviceaccounts/${sa}`;
  const token = (sa: string) => kube.kubectl(['create', 'token', sa, '-n', 'default', '--audience', 'sigstore', '--duration', '1h']).trim();
  return {
    kube, fulcio, issuer, dir, signingConfig, subject, token,
    tokenFile(sa) {
      const file = join(dir, `${sa}-token`);
      writeFileSync(file, token(sa));
      return file;
    },
    cosignIdentityFlags: (sa) => [
      '--trusted-root', fulcio.trustedRootPath, '--certificate-identity', subject(sa), '--certificate-oidc-issuer', issuer,
      '--insecure-ignore-tlog=true', '--insecure-ignore-sct=true',
    ],
    async stop() {
      await Promise.allSettled([fulcio.stop(), kube.stop()]);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
