import { Keypair, PublicKey } from "@solana/web3.js";
import { ed25519PublicKey } from "./ed25519";
import { decryptSecret, encryptSecret, SecretBoxError, type KeyRing } from "./secret-box";

/** Encrypts a wallet's 64-byte secret key, bound to its own public key. */
export function sealKeypair(ring: KeyRing, keypair: Keypair): { publicKey: string; secretEncrypted: string } {
  const publicKey = keypair.publicKey.toBase58();
  return { publicKey, secretEncrypted: encryptSecret(ring, keypair.secretKey, publicKey) };
}

/**
 * Decrypts a wallet and proves it is the one the row claims: the public key derived from the
 * decrypted secret must equal the stored public key before anything is signed with it.
 */
export function openKeypair(ring: KeyRing, secretEncrypted: string, publicKey: string): Keypair {
  const secret = decryptSecret(ring, secretEncrypted, publicKey);
  try {
    if (secret.length !== 64) throw new SecretBoxError("Decrypted wallet secret has the wrong length");
    // The seed must derive both the public key stored inside the secret and the row's: checked
    // natively (web3.js's own check is the same derivation in JavaScript, a large share of a call's CPU).
    const derived = new PublicKey(ed25519PublicKey(secret));
    if (!derived.equals(new PublicKey(secret.subarray(32))) || derived.toBase58() !== publicKey) {
      throw new SecretBoxError("Decrypted wallet does not match its public key");
    }
    // A copy: Keypair keeps views into the bytes it is given, and ours are wiped below.
    return Keypair.fromSecretKey(Uint8Array.from(secret), { skipValidation: true });
  } finally {
    secret.fill(0);
  }
}
