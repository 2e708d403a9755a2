// A real Fulcio (sigstore's certificate authority) for keyless tests, trusting one OIDC issuer —
// the test kube-apiserver's ServiceAccount issuer, so a TokenRequest token buys a signing
// certificate. Its CA is ephemeral (in memory), or a given file CA when a CT log must know the
// root before Fulcio starts; with a CT log URL every certificate carries an SCT. Its root goes
// into a sigstore trusted_root.json that both Hoist and cosign verify against.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, startServer, waitUntil, type Server } from './process.ts';
import type { TestCA } from './sigstore.ts';
import { tool } from './testbed.ts';

export interface TestFulcio {
  url: string;
  /** PEM chain of the CA, root last. */
  chainPem: string;
  /** The certificateAuthorities entry of a trusted_root.json for this Fulcio. */
  certificateAuthority: object;
  /** sigstore trusted_root.json with this CA only (the keyless bed widens it to every service it runs). */
  trustedRoot: object;
  trustedRootPath: string;
  server: Server;
  stop(): Promise<void>;
}

export interface FulcioIssuer {
  /** The OIDC issuer URL exactly as tokens carry it in `iss`. */
  url: string;
  /** Fulcio's issuer type: `kubernetes` turns the ServiceAccount claims into the certificate subject. */
  type: 'kubernetes' | 'email' | 'uri';
  /** PEM CA bundle Fulcio needs to fetch the issuer's discovery document over TLS. */
  caPath?: string;
  clientId?: string;
}

export interface FulcioOptions {
  /** A file CA (root cert and encrypted key) instead of the ephemeral one. */
  ca?: TestCA;
  /** A CT log to submit precertificates to; certificates then carry an SCT. */
  ctLogURL?: string;
}

export async function startFulcio(issuer: FulcioIssuer, options: FulcioOptions = {}): Promise<TestFulcio> {
  const dir = mkdtempSync(join(tmpdir(), 'hoist-fulcio-'));
  const config = join(dir, 'config.json');
  writeFileSync(config, JSON.stringify({
    OIDCIssuers: { [issuer.url]: { IssuerURL: issuer.url, ClientID: issuer.clientId ?? 'sigstore', Type: issuer.type } },
  }));
  const [port, grpcPort, metricsPort] = await Promise.all([freePort(), freePort(), freePort()]);
  const server = startServer(`fulcio :${port}`, tool('fulcio'), [
    'serve',
    ...(options.ca ? ['--ca=fileca', `--fileca-cert=${options.ca.certFile}`, `--fileca-key=${options.ca.keyFile}`, `--fileca-key-passwd=${options.ca.password}`, '--fileca-watch=false'] : ['--ca=ephemeralca']),
    `--ct-log-url=${options.ctLogURL ?? ''}`, `--config-path=${config}`,
    '--host=127.0.0.1', `--port=${port}`, '--grpc-host=127.0.0.1', `--grpc-port=${grpcPort}`, `--metrics-port=${metricsPort}`,
    `--legacy-unix-domain-socket=@hoist-fulcio-${port}`, '--log_type=prod',
  ], issuer.caPath ? { SSL_CERT_FILE: issuer.caPath } : {});
  const url = `http://127.0.0.1:${port}`;
  let chainPem = '';
  await waitUntil(server, 'serving its root certificate', async () => {
    const res = await fetch(`${url}/api/v1/rootCert`);
    chainPem = await res.text();
    return res.ok && chainPem.includes('BEGIN CERTIFICATE');
  });
  const certificates = [...chainPem.matchAll(/-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/g)]
    .map((m) => ({ rawBytes: m[1]!.replace(/\s+/g, '') }));
  const certificateAuthority = {
    subject: { organization: 'hoist-test', commonName: 'fulcio' }, uri: url,
    certChain: { certificates }, validFor: { start: new Date(Date.now() - 3600_000).toISOString() },
  };
  const trustedRoot = {
    mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1',
    tlogs: [], ctlogs: [], timestampAuthorities: [], certificateAuthorities: [certificateAuthority],
  };
  const trustedRootPath = join(dir, 'trusted_root.json');
  writeFileSync(trustedRootPath, JSON.stringify(trustedRoot));
  return {
    url, chainPem, certificateAuthority, trustedRoot, trustedRootPath, server,
    async stop() {
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
