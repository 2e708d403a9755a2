// NaCl secretbox (XSalsa20 + Poly1305), the cipher of cosign's encrypted private keys. Node's
// crypto has neither XSalsa20 nor a standalone Poly1305, and a key is a few hundred bytes, so a
// small pure implementation is enough and avoids a dependency for one decryption per run.
import { timingSafeEqual } from 'node:crypto';

const SIGMA = [0x61707865, 0x3320646e, 0x79622d32, 0x6b206574];
const rotl = (x: number, n: number) => (x << n) | (x >>> (32 - n));

function salsaRounds(x: Uint32Array): void {
  for (let i = 0; i < 20; i += 2) {
    x[4]! ^= rotl((x[0]! + x[12]!) | 0, 7); x[8]! ^= rotl((x[4]! + x[0]!) | 0, 9);
    x[12]! ^= rotl((x[8]! + x[4]!) | 0, 13); x[0]! ^= rotl((x[12]! + x[8]!) | 0, 18);
    x[9]! ^= rotl((x[5]! + x[1]!) | 0, 7); x[13]! ^= rotl((x[9]! + x[5]!) | 0, 9);
    x[1]! ^= rotl((x[13]! + x[9]!) | 0, 13); x[5]! ^= rotl((x[1]! + x[13]!) | 0, 18);
    x[14]! ^= rotl((x[10]! + x[6]!) | 0, 7); x[2]! ^= rotl((x[14]! + x[10]!) | 0, 9);
    x[6]! ^= rotl((x[2]! + x[14]!) | 0, 13); x[10]! ^= rotl((x[6]! + x[2]!) | 0, 18);
    x[3]! ^= rotl((x[15]! + x[11]!) | 0, 7); x[7]! ^= rotl((x[3]! + x[15]!) | 0, 9);
    x[11]! ^= rotl((x[7]! + x[3]!) | 0, 13); x[15]! ^= rotl((x[11]! + x[7]!) | 0, 18);
    x[1]! ^= rotl((x[0]! + x[3]!) | 0, 7); x[2]! ^= rotl((x[1]! + x[0]!) | 0, 9);
    x[3]! ^= rotl((x[2]! + x[1]!) | 0, 13); x[0]! ^= rotl((x[3]! + x[2]!) | 0, 18);
    x[6]! ^= rotl((x[5]! + x[4]!) | 0, 7); x[7]! ^= rotl((x[6]! + x[5]!) | 0, 9);
    x[4]! ^= rotl((x[7]! + x[6]!) | 0, 13); x[5]! ^= rotl((x[4]! + x[7]!) | 0, 18);
    x[11]! ^= rotl((x[10]! + x[9]!) | 0, 7); x[8]! ^= rotl((x[11]! + x[10]!) | 0, 9);
    x[9]! ^= rotl((x[8]! + x[11]!) | 0, 13); x[10]! ^= rotl((x[9]! + x[8]!) | 0, 18);
    x[12]! ^= rotl((x[15]! + x[14]!) | 0, 7); x[13]! ^= rotl((x[12]! + x[15]!) | 0, 9);
    x[14]! ^= rotl((x[13]! + x[12]!) | 0, 13); x[15]! ^= rotl((x[14]! + x[13]!) | 0, 18);
  }
}

function state(key: Uint8Array, input: Uint8Array): Uint32Array {
  const k = Buffer.from(key);
  const n = Buffer.from(input);
  const s = new Uint32Array(16);
  s[0] = SIGMA[0]!; s[5] = SIGMA[1]!; s[10] = SIGMA[2]!; s[15] = SIGMA[3]!;
  for (let i = 0; i < 4; i++) { s[1 + i] = k.readUInt32LE(4 * i); s[11 + i] = k.readUInt32LE(16 + 4 * i); }
  for (let i = 0; i < 4; i++) s[6 + i] = n.readUInt32LE(4 * i);
  return s;
}

/** HSalsa20: derives XSalsa20's subkey from the first 16 nonce bytes. */
function hsalsa20(key: Uint8Array, nonce16: Uint8Array): Buffer {
  const x = state(key, nonce16);
  salsaRounds(x);
  const out = Buffer.alloc(32);
  [0, 5, 10, 15, 6, 7, 8, 9].forEach((idx, i) => out.writeUInt32LE(x[idx]!, 4 * i));
  return out;
}

function xsalsa20Stream(key: Uint8Array, nonce: Uint8Array, length: number): Buffer {
  const subkey = hsalsa20(key, nonce.subarray(0, 16));
  const out = Buffer.alloc(length);
  const input = Buffer.alloc(16);
  Buffer.from(nonce.subarray(16, 24)).copy(input, 0);
  for (let block = 0; block * 64 < length; block++) {
    input.writeUInt32LE(block >>> 0, 8);
    input.writeUInt32LE(Math.floor(block / 2 ** 32), 12);
    const init = state(subkey, input);
    const x = Uint32Array.from(init);
    salsaRounds(x);
    const bytes = Buffer.alloc(64);
    for (let i = 0; i < 16; i++) bytes.writeUInt32LE((x[i]! + init[i]!) >>> 0, 4 * i);
    bytes.copy(out, block * 64, 0, Math.min(64, length - block * 64));
  }
  return out;
}

const P1305 = (1n << 130n) - 5n;
const le = (bytes: Uint8Array) => bytes.reduceRight((acc, b) => (acc << 8n) | BigInt(b), 0n);

function poly1305(key: Uint8Array, message: Uint8Array): Buffer {
  const r = le(key.subarray(0, 16)) & 0x0ffffffc0ffffffc0ffffffc0fffffffn;
  const s = le(key.subarray(16, 32));
  let acc = 0n;
  for (let i = 0; i < message.length; i += 16) {
    const chunk = message.subarray(i, i + 16);
    acc = ((acc + le(chunk) + (1n << BigInt(8 * chunk.length))) * r) % P1305;
  }
  let tag = (acc + s) & ((1n << 128n) - 1n);
  const out = Buffer.alloc(16);
  for (let i = 0; i < 16; i++) { out[i] = Number(tag & 0xffn); tag >>= 8n; }
  return out;
}

/** secretbox: 16-byte Poly1305 tag followed by the ciphertext, as NaCl lays it out. */
export function secretboxSeal(plaintext: Uint8Array, nonce: Uint8Array, key: Uint8Array): Buffer {
  const stream = xsalsa20Stream(key, nonce, 32 + plaintext.length);
  const ciphertext = Buffer.from(plaintext.map((b, i) => b ^ stream[32 + i]!));
  return Buffer.concat([poly1305(stream.subarray(0, 32), ciphertext), ciphertext]);
}

/** Opens a secretbox; undefined when the tag does not match (wrong key or tampered box). */
export function secretboxOpen(box: Uint8Array, nonce: Uint8Array, key: Uint8Array): Buffer | undefined {
  if (box.length < 16 || nonce.length !== 24 || key.length !== 32) return undefined;
  const ciphertext = box.subarray(16);
  const stream = xsalsa20Stream(key, nonce, 32 + ciphertext.length);
  if (!timingSafeEqual(poly1305(stream.subarray(0, 32), ciphertext), box.subarray(0, 16))) return undefined;
  return Buffer.from(ciphertext.map((b, i) => b ^ stream[32 + i]!));
}
