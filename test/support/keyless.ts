// The keyless test bed, a private Sigstore instance on loopback as the public-good one is built:
// a real kube-apiserver whose ServiceAccount tokens a real Fulcio accepts, a CT log that gives
// every certificate its SCT, a Rekor v2 log and an RFC 3161 timestamp authority. Its trusted
// root names all four and its signing config names Fulcio, Rekor and the TSA, so cosign signs
// and verifies with no --insecure-* flag, and so does Hoist. Shared by every keyless test so
// each sets up the same, known-good world.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startFulcio, type TestFulcio } from './fulcio.ts';
import { startKube, type TestKube } from './kube.ts';
import { makeCA, startCTLog, startRekorV2, startTimestampAuthority, type TestCTLog, type TestRekor, type TestTimestampAuthority } from './sigstore.ts';
import { runTool } from './testbed.ts';

export interface KeylessBed {
  kube: TestKube;
  fulcio: TestFulcio;
  tsa: TestTimestampAuthority;
  rekor: TestRekor;
  ctlog: TestCTLog;
  /** The ServiceAccount issuer Fulcio trusts (the API server's URL with a trailing slash). */
  issuer: string;
  dir: string;
  /** trusted_root.json naming Fulcio, the CT log, Rekor and the TSA (also fulcio.trustedRoot/Path). */
  trustedRoot: object;
  trustedRootPath: string;
  /** A cosign signing config naming Fulcio, the Rekor v2 log and the TSA. */
  signingConfig: string;
  /** Hoist's signing services, the same ones. */
  signingServices: { timestampAuthorityURL: string; rekorURL: string; rekorVersion: 2 };
  /** The certificate subject Fulcio gives a ServiceAccount of the default namespace. */
  subject(serviceAccount: string): string;
  token(serviceAccount: string): string;
  /** A file holding a fresh token, as a projected volume would. */
  tokenFile(serviceAccount: string): string;
  /** cosign verify flags for a keyless signature by that ServiceAccount: identity, issuer, trusted root, nothing insecure. */
  cosignIdentityFlags(serviceAccount: string): string[];
  stop(): Promise<void>;
}

export async function startKeylessBed(serviceAccounts: string[]): Promise<KeylessBed> {
  const dir = mkdtempSync(join(tmpdir(), 'hoist-keyless-'));
  const ca = await makeCA(dir);
  // What started is stopped again when another part fails to, so a failed start leaves no server running.
  const parts = await Promise.allSettled([startKube(), startCTLog(ca.certPem), startRekorV2(), startTimestampAuthority()]);
  const failed = parts.find((p): p is PromiseRejectedResult => p.status === 'rejected');
  if (failed) {
    await Promise.allSettled(parts.map((p) => (p.status === 'fulfilled' ? p.value.stop() : undefined)));
    rmSync(dir, { recursive: true, force: true });
    throw failed.reason;
  }
  const [kube, ctlog, rekor, tsa] = parts.map((p) => (p as PromiseFulfilledResult<unknown>).value) as [TestKube, TestCTLog, TestRekor, TestTimestampAuthority];
  const issuer = `${kube.server}/`;
  // Fulcio fetches the issuer's discovery document and keys anonymously.
  kube.kubectl(['create', 'clusterrolebinding', 'oidc-discovery-anonymous', '--clusterrole=system:service-account-issuer-discovery', '--group=system:unauthenticated']);
  for (const sa of serviceAccounts) kube.kubectl(['create', 'serviceaccount', sa, '-n', 'default']);
  const fulcio = await startFulcio({ url: issuer, type: 'kubernetes', caPath: kube.caPath }, { ca, ctLogURL: ctlog.url });
  const trustedRoot = {
    mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1',
    certificateAuthorities: [fulcio.certificateAuthority],
    tlogs: [rekor.trustedRootEntry], ctlogs: [ctlog.trustedRootEntry], timestampAuthorities: [tsa.trustedRootEntry],
  };
  // Every test that reads fulcio.trustedRoot(Path) gets the whole instance's root.
  writeFileSync(fulcio.trustedRootPath, JSON.stringify(trustedRoot));
  fulcio.trustedRoot = trustedRoot;
  const signingConfig = join(dir, 'signing-config.json');
  const service = (url: string, version: number) => `url=${url},api-version=${version},start-time=2024-01-01T00:00:00Z,operator=hoist-test`;
  await runTool('cosign', [
    'signing-config', 'create', '--fulcio', service(fulcio.url, 1), '--rekor', service(rekor.url, 2), '--rekor-config', 'ANY',
    '--tsa', service(tsa.timestampURL, 1), '--tsa-config', 'ANY', '--out', signingConfig,
  ]);
  const subject = (sa: string) => `https://kubernetes.io/namespaces/default/serviceaccounts/${sa}`;
  const token = (sa: string) => kube.kubectl(['create', 'token', sa, '-n', 'default', '--audience', 'sigstore', '--duration', '1h']).trim();
  return {
    kube, fulcio, tsa, rekor, ctlog, issuer, dir, trustedRoot, trustedRootPath: fulcio.trustedRootPath, signingConfig,
    signingServices: { timestampAuthorityURL: tsa.timestampURL, rekorURL: rekor.url, rekorVersion: 2 },
    subject, token,
    tokenFile(sa) {
      const file = join(dir, `${sa}-token`);
      writeFileSync(file, token(sa));
      return file;
    },
    cosignIdentityFlags: (sa) => ['--trusted-root', fulcio.trustedRootPath, '--certificate-identity', subject(sa), '--certificate-oidc-issuer', issuer],
    async stop() {
      await Promise.allSettled([fulcio.stop(), kube.stop(), ctlog.stop(), rekor.stop(), tsa.stop()]);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
