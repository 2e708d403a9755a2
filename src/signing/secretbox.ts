// NaCl secretbox (XSalsa20 + Poly1305), the cipher of cosign's encrypted private keys. Node's
// crypto has neither XSalsa20 nor a standalone Poly1305; @noble/ciphers is an audited,
// dependency-free implementation, a better keeper of cipher code than we would be.
import { secretbox } from '@noble/ciphers/salsa.js';

/** secretbox: 16-byte Poly1305 tag followed by the ciphertext, as NaCl lays it out. */
export function secretboxSeal(plaintext: Uint8Array, nonce: Uint8Array, key: Uint8Array): Buffer {
  return Buffer.from(secretbox(key, nonce).seal(plaintext));
}

/** Opens a secretbox; undefined when the tag does not match (wrong key or tampered box). */
export function secretboxOpen(box: Uint8Array, nonce: Uint8Array, key: Uint8Array): Buffer | undefined {
  if (box.length < 16 || nonce.length !== 24 || key.length !== 32) return undefined;
  try {
    return Buffer.from(secretbox(key, nonce).open(box));
  } catch {
    return undefined;
  }
}
