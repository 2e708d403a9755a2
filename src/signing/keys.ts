// Key material as cosign writes it: PEM public keys (cosign.pub), and private keys either as
// plain PKCS#8/SEC1 PEM or in cosign's own `ENCRYPTED SIGSTORE PRIVATE KEY` envelope, which
// `cosign generate-key-pair` produces: scrypt derives a key from the password and a NaCl
// secretbox holds the PKCS#8 DER.
import { createHash, createPrivateKey, createPublicKey, randomBytes, scrypt, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import { TrustError } from './errors.ts';
import { secretboxOpen, secretboxSeal } from './secretbox.ts';

const scryptAsync = promisify(scrypt) as (password: Buffer, salt: Buffer, keylen: number, options: { N: number; r: number; p: number; maxmem: number }) => Promise<Buffer>;

/**
 * Upper bounds for the scrypt cost a key may ask for. The parameters come from the Secret, so
 * anyone who may write one could otherwise make the shared controller spend gigabytes and
 * minutes per run (N=2^30). cosign writes N=2^16 (older releases 2^15), r=8, p=1; one step of
 * headroom on N, none on r and p.
 */
export const SCRYPT_LIMITS = { maxN: 2 ** 17, maxR: 8, maxP: 1 } as const;

const ENCRYPTED_LABELS = ['ENCRYPTED SIGSTORE PRIVATE KEY', 'ENCRYPTED COSIGN PRIVATE KEY'];

interface EncryptedKeyDocument {
  kdf: { name: string; params: { N?: unknown; r?: unknown; p?: unknown }; salt: string };
  cipher: { name: string; nonce: string };
  ciphertext: string;
}

function pemBlock(pem: string, labels: string[]): Buffer | undefined {
  for (const label of labels) {
    const match = new RegExp(`-----BEGIN ${label}-----([\\s\\S]*?)-----END ${label}-----`).exec(pem);
    if (match) return Buffer.from(match[1]!.replace(/\s+/g, ''), 'base64');
  }
  return undefined;
}

export function loadPublicKey(pem: string | Buffer, what = 'public key'): KeyObject {
  try {
    const key = createPublicKey(typeof pem === 'string' ? pem : pem.toString('utf8'));
    if (key.asymmetricKeyType !== 'ec' && key.asymmetricKeyType !== 'ed25519' && key.asymmetricKeyType !== 'rsa') {
      throw new Error(`unsupported key type ${key.asymmetricKeyType}`);
    }
    return key;
  } catch (error) {
    throw new TrustError('InvalidKey', `${what} is not a PEM public key cosign can use (${(error as Error).message}); expected the contents of cosign.pub`);
  }
}

/** The key hint sigstore bundles carry: base64 of the SHA-256 of the key's SPKI DER. */
export function keyHint(key: KeyObject): string {
  const publicKey = key.type === 'private' ? createPublicKey(key) : key;
  return createHash('sha256').update(publicKey.export({ type: 'spki', format: 'der' })).digest('base64');
}

export function publicKeyPem(key: KeyObject): string {
  const publicKey = key.type === 'private' ? createPublicKey(key) : key;
  return publicKey.export({ type: 'spki', format: 'pem' }).toString();
}

/** Loads a private key: cosign's encrypted format (needs the password) or an unencrypted PEM. */
export async function loadPrivateKey(pem: string | Buffer, password: string | Buffer | undefined, what = 'private key'): Promise<KeyObject> {
  const text = typeof pem === 'string' ? pem : pem.toString('utf8');
  const encrypted = pemBlock(text, ENCRYPTED_LABELS);
  if (!encrypted) {
    try {
      return createPrivateKey(text);
    } catch (error) {
      throw new TrustError('InvalidKey', `${what} is neither a cosign encrypted key nor a PEM private key (${(error as Error).message})`);
    }
  }
  let doc: EncryptedKeyDocument;
  try {
    doc = JSON.parse(encrypted.toString('utf8')) as EncryptedKeyDocument;
  } catch {
    throw new TrustError('InvalidKey', `${what}: the encrypted key's body is not the JSON cosign writes; regenerate it with cosign generate-key-pair`);
  }
  if (doc === null || typeof doc !== 'object') throw new TrustError('InvalidKey', `${what}: the encrypted key's body is not the JSON object cosign writes; regenerate it with cosign generate-key-pair`);
  if (doc.kdf?.name !== 'scrypt' || doc.cipher?.name !== 'nacl/secretbox') {
    throw new TrustError('InvalidKey', `${what}: unsupported key encryption ${doc.kdf?.name}/${doc.cipher?.name}; expected scrypt with nacl/secretbox`);
  }
  const { N, r, p } = doc.kdf.params ?? {};
  const shown = (v: unknown) => (typeof v === 'number' ? String(v) : 'invalid');
  const positiveInteger = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 1;
  if (!positiveInteger(N) || !positiveInteger(r) || !positiveInteger(p) || N < 2 || (N & (N - 1)) !== 0
    || N > SCRYPT_LIMITS.maxN || r > SCRYPT_LIMITS.maxR || p > SCRYPT_LIMITS.maxP) {
    throw new TrustError('InvalidKey', `${what}: scrypt parameters N=${shown(N)} r=${shown(r)} p=${shown(p)} are not what cosign writes `
      + `(N a power of two up to ${SCRYPT_LIMITS.maxN}, r up to ${SCRYPT_LIMITS.maxR}, p up to ${SCRYPT_LIMITS.maxP}); regenerate the key with cosign generate-key-pair`);
  }
  const nonce = Buffer.from(doc.cipher.nonce ?? '', 'base64');
  if (nonce.length !== 24 || typeof doc.kdf.salt !== 'string' || typeof doc.ciphertext !== 'string') {
    throw new TrustError('InvalidKey', `${what}: the encrypted key lacks a salt, a 24-byte nonce or a ciphertext; regenerate it with cosign generate-key-pair`);
  }
  let secret: Buffer;
  try {
    secret = await scryptAsync(Buffer.from(password ?? ''), Buffer.from(doc.kdf.salt, 'base64'), 32, { N, r, p, maxmem: 256 * N * r + 1024 * 1024 });
  } catch (error) {
    // Node's message names the parameters only, never the password.
    throw new TrustError('InvalidKey', `${what}: scrypt failed (${(error as Error).message})`);
  }
  const der = secretboxOpen(Buffer.from(doc.ciphertext, 'base64'), nonce, secret);
  if (!der) throw new TrustError('WrongKeyPassword', `${what}: the password does not decrypt the key; check cosign.password (COSIGN_PASSWORD when it was generated)`);
  try {
    return createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
  } catch (error) {
    throw new TrustError('InvalidKey', `${what}: decrypted key is not PKCS#8 (${(error as Error).message})`);
  }
}

/** Writes a key the way `cosign generate-key-pair` does; for tests and key rotation tooling. */
export async function encryptPrivateKey(key: KeyObject, password: string, params = { N: 65536, r: 8, p: 1 }): Promise<string> {
  const salt = randomBytes(32);
  const nonce = randomBytes(24);
  const secret = await scryptAsync(Buffer.from(password), salt, 32, { ...params, maxmem: 256 * params.N * params.r + 1024 * 1024 });
  const der = key.export({ type: 'pkcs8', format: 'der' });
  const doc: EncryptedKeyDocument = {
    kdf: { name: 'scrypt', params, salt: salt.toString('base64') },
    cipher: { name: 'nacl/secretbox', nonce: nonce.toString('base64') },
    ciphertext: secretboxSeal(der, nonce, secret).toString('base64'),
  };
  const body = Buffer.from(JSON.stringify(doc)).toString('base64').match(/.{1,64}/g)!.join('\n');
  return `-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n${body}\n-----END ENCRYPTED SIGSTORE PRIVATE KEY-----\n`;
}
