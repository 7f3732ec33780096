import { createPrivateKey, createPublicKey, sign, verify, type KeyObject } from "node:crypto";

/**
 * Ed25519 through Node's OpenSSL instead of web3.js's pure-JavaScript curve: the same signatures
 * (Ed25519 is deterministic), at a fraction of the CPU. A paid call signs once (the chain verifies
 * it; the demo marketplace only when the chain refused the payment); in JavaScript signing and
 * verifying were the largest share of a call's CPU (issue 11's profile).
 * Keys are imported as JWK: OpenSSL 3's DER decoders took 0.67 ms a private key, JWK 0.06 ms.
 * Key objects are made per use and never kept: no decrypted wallet outlives its signature (a paid
 * call's wallet is imported once, for its check and its one signature: `ed25519SigningKey`).
 */

const base64url = (bytes: Uint8Array) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64url");

function privateKey(secretKey: Uint8Array): KeyObject {
  // A Solana secret key is the 32-byte seed followed by its public key. Node requires the JWK's
  // `x` but derives the public key from `d`: what signs is the seed alone.
  return createPrivateKey({
    key: { kty: "OKP", crv: "Ed25519", d: base64url(secretKey.subarray(0, 32)), x: base64url(secretKey.subarray(32, 64)) },
    format: "jwk",
  });
}

/** A secret key imported once: the public key its seed derives, and signatures with it. */
export interface Ed25519SigningKey {
  readonly publicKey: Uint8Array;
  sign(message: Uint8Array): Buffer;
}

/** One import for both what a wallet's check needs (the derived public key) and its signature. */
export function ed25519SigningKey(secretKey: Uint8Array): Ed25519SigningKey {
  const key = privateKey(secretKey);
  const { x } = createPublicKey(key).export({ format: "jwk" });
  return { publicKey: new Uint8Array(Buffer.from(x!, "base64url")), sign: (message) => sign(null, message, key) };
}

/** The public key the secret key's seed derives (what web3.js's `Keypair.fromSecretKey` checks). */
export function ed25519PublicKey(secretKey: Uint8Array): Uint8Array {
  return ed25519SigningKey(secretKey).publicKey;
}

export function ed25519Sign(secretKey: Uint8Array, message: Uint8Array): Buffer {
  return sign(null, message, privateKey(secretKey));
}

export function ed25519Verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  if (publicKey.length !== 32 || signature.length !== 64) return false;
  try {
    return verify(
      null,
      message,
      createPublicKey({ key: { kty: "OKP", crv: "Ed25519", x: base64url(publicKey) }, format: "jwk" }),
      signature,
    );
  } catch {
    // Not a point on the curve: no signature can be valid for it.
    return false;
  }
}
