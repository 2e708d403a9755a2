// Sigstore's services beyond Fulcio, real and on loopback, for signatures that others verify
// later: sigstore's timestamp-authority (RFC 3161, in-memory signing key), a Rekor v2 log
// (rekor-tiles on POSIX storage: no Trillian, no database) and a CT log (TesseraCT on POSIX
// storage) that gives Fulcio's certificates their SCTs. Each returns the entry it contributes to
// a trusted_root.json, so Hoist and cosign verify against exactly these services.
import { createHash, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, startServer, waitUntil, type Server } from './process.ts';
import { runTool, tool } from './testbed.ts';

/** When the test services' keys start being valid: an hour ago, so nothing signed now falls before it. */
const validFrom = () => new Date(Date.now() - 3600_000).toISOString().replace(/\.\d{3}Z$/, 'Z');

export const pemBlocks = (pem: string) => [...pem.matchAll(/-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/g)].map((m) => m[1]!.replace(/\s+/g, ''));

const spki = (key: KeyObject) => key.export({ type: 'spki', format: 'der' });

/** A trusted_root.json transparency-log (or CT log) instance for an ECDSA P-256 key: logId = SHA-256 of the SPKI. */
function logInstance(baseUrl: string, publicKey: KeyObject): object {
  const der = spki(publicKey);
  return {
    baseUrl, hashAlgorithm: 'SHA2_256',
    publicKey: { rawBytes: der.toString('base64'), keyDetails: 'PKIX_ECDSA_P256_SHA_256', validFor: { start: validFrom() } },
    logId: { keyId: createHash('sha256').update(der).digest('base64') },
  };
}

interface Service {
  url: string;
  server: Server;
  dir: string;
  stop(): Promise<void>;
}

function serviceStop(server: Server, dir: string) {
  return async () => {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  };
}

export interface TestTimestampAuthority extends Service {
  /** The RFC 3161 endpoint cosign and @sigstore/sign post to. */
  timestampURL: string;
  chainPem: string;
  trustedRootEntry: object;
}

export async function startTimestampAuthority(): Promise<TestTimestampAuthority> {
  const dir = mkdtempSync(join(tmpdir(), 'hoist-tsa-'));
  // timestamp-server always serves its metrics on :2112, so only one runs on a machine at a time:
  // while another test's holds the port, this one waits for it to stop, then starts.
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const server = startServer(`timestamp-server :${port}`, tool('timestamp-server'), [
      'serve', '--host=127.0.0.1', `--port=${port}`, '--timestamp-signer=memory', '--disable-ntp-monitoring', '--log-type=prod',
    ]);
    const url = `http://127.0.0.1:${port}`;
    let chainPem = '';
    try {
      await waitUntil(server, 'serving its certificate chain', async () => {
        const res = await fetch(`${url}/api/v1/timestamp/certchain`);
        chainPem = await res.text();
        return res.ok && chainPem.includes('BEGIN CERTIFICATE');
      });
    } catch (error) {
      await server.stop();
      if (attempt >= 600 || !/:2112: bind: address already in use/.test(server.output())) throw error;
      await new Promise((resolve) => setTimeout(resolve, 1000));
      continue;
    }
    return tsaOf(server, dir, url, chainPem);
  }
}

function tsaOf(server: Server, dir: string, url: string, chainPem: string): TestTimestampAuthority {
  return {
    url, server, dir, chainPem, timestampURL: `${url}/api/v1/timestamp`,
    trustedRootEntry: {
      subject: { organization: 'hoist-test', commonName: 'timestamp-authority' }, uri: `${url}/api/v1/timestamp`,
      // Leaf first, root last, as trusted_root.json orders a chain.
      certChain: { certificates: pemBlocks(chainPem).map((rawBytes) => ({ rawBytes })) }, validFor: { start: validFrom() },
    },
    stop: serviceStop(server, dir),
  };
}

export interface TestRekor extends Service {
  trustedRootEntry: object;
}

/**
 * Rekor v2 (rekor-tiles) on files. Its checkpoint origin is the host name of its URL, which
 * sigstore-go and @sigstore/verify match against the trusted root's baseUrl.
 */
export async function startRekorV2(): Promise<TestRekor> {
  const dir = mkdtempSync(join(tmpdir(), 'hoist-rekor-'));
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const keyFile = join(dir, 'rekor.key');
  writeFileSync(keyFile, privateKey.export({ type: 'pkcs8', format: 'pem' }));
  const [port, grpcPort, metricsPort] = await Promise.all([freePort(), freePort(), freePort()]);
  const server = startServer(`rekor-server-posix :${port}`, tool('rekor-server-posix'), [
    'serve', '--hostname=127.0.0.1', '--http-address=127.0.0.1', `--http-port=${port}`, '--grpc-address=127.0.0.1', `--grpc-port=${grpcPort}`,
    `--http-metrics-port=${metricsPort}`, `--storage-dir=${join(dir, 'log')}`, `--signer-filepath=${keyFile}`,
    // Entries are returned once integrated into a checkpoint: publish them quickly.
    '--checkpoint-interval=500ms', '--batch-max-age=50ms', '--log-level=warn',
  ]);
  const url = `http://127.0.0.1:${port}`;
  await waitUntil(server, 'answering HTTP', async () => (await fetch(`${url}/healthz`)).status < 500);
  return { url, server, dir, trustedRootEntry: logInstance(url, publicKey), stop: serviceStop(server, dir) };
}

export interface TestCTLog extends Service {
  trustedRootEntry: object;
}

/** A CT log (TesseraCT, static-ct-api) accepting chains to `rootsPem`; Fulcio submits precertificates to it. */
export async function startCTLog(rootsPem: string): Promise<TestCTLog> {
  const dir = mkdtempSync(join(tmpdir(), 'hoist-ctlog-'));
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const keyFile = join(dir, 'ct.key');
  // TesseraCT reads a SEC 1 "EC PRIVATE KEY".
  writeFileSync(keyFile, privateKey.export({ type: 'sec1', format: 'pem' }));
  const rootsFile = join(dir, 'roots.pem');
  writeFileSync(rootsFile, rootsPem);
  const port = await freePort();
  const server = startServer(`tesseract-posix :${port}`, tool('tesseract-posix'), [
    `--http_endpoint=127.0.0.1:${port}`, `--origin=hoist-test.ct.local/${port}`, `--storage_dir=${join(dir, 'log')}`,
    `--private_key=${keyFile}`, `--roots_pem_file=${rootsFile}`, '--checkpoint_interval=500ms', '--logtostderr',
  ]);
  const url = `http://127.0.0.1:${port}`;
  await waitUntil(server, 'serving its roots', async () => (await fetch(`${url}/ct/v1/get-roots`)).ok);
  return { url, server, dir, trustedRootEntry: logInstance(url, publicKey), stop: serviceStop(server, dir) };
}

export interface TestCA {
  certPem: string;
  certFile: string;
  /** PKCS#8 encrypted with `password`, as Fulcio's fileca wants it. */
  keyFile: string;
  password: string;
}

/** A self-signed root CA (openssl) for Fulcio's fileca, so its root is known before Fulcio and the CT log start. */
export async function makeCA(dir: string, commonName = 'hoist-test-fulcio'): Promise<TestCA> {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-384' });
  const password = 'hoist-test';
  const keyFile = join(dir, 'ca.key');
  const plainKey = join(dir, 'ca-plain.key');
  writeFileSync(keyFile, privateKey.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: password }));
  writeFileSync(plainKey, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  const certFile = join(dir, 'ca.crt');
  await runTool('openssl', [
    'req', '-x509', '-new', '-key', plainKey, '-sha384', '-days', '3650', '-subj', `/O=hoist-test/CN=${commonName}`,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
    '-addext', 'extendedKeyUsage=codeSigning', '-out', certFile,
  ]);
  rmSync(plainKey);
  const { readFileSync } = await import('node:fs');
  return { certPem: readFileSync(certFile, 'utf8'), certFile, keyFile, password };
}
