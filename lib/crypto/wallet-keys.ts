import { Keypair } from "@solana/web3.js";
import { toBase58 } from "@/lib/solana/base58";
import { ed25519SigningKey, type Ed25519SigningKey } from "./ed25519";
import { decryptSecret, encryptSecret, SecretBoxError, type KeyRing } from "./secret-box";

/** Encrypts a wallet's 64-byte secret key, bound to its own public key. */
export function sealKeypair(ring: KeyRing, keypair: Keypair): { publicKey: string; secretEncrypted: string } {
  const publicKey = keypair.publicKey.toBase58();
  return { publicKey, secretEncrypted: encryptSecret(ring, keypair.secretKey, publicKey) };
}

/**
 * Decrypts a wallet and proves it is the one the row claims: the public key derived from the
 * decrypted secret must equal the stored public key before anything is signed with it. `use` gets
 * the secret (wiped once it returns) and its signing key.
 */
function openVerified<T>(
  ring: KeyRing,
  secretEncrypted: string,
  publicKey: string,
  use: (secret: Uint8Array, key: Ed25519SigningKey) => T,
): T {
  const secret = decryptSecret(ring, secretEncrypted, publicKey);
  try {
    if (secret.length !== 64) throw new SecretBoxError("Decrypted wallet secret has the wrong length");
    // The seed must derive both the public key stored inside the secret and the row's: checked
    // natively (web3.js's own check is the same derivation in JavaScript, a large share of a call's
    // CPU), compared as bytes and written once as text (web3.js PublicKeys would add bn.js and bs58).
    const key = ed25519SigningKey(secret);
    if (!secret.subarray(32).equals(key.publicKey) || toBase58(key.publicKey) !== publicKey) {
      throw new SecretBoxError("Decrypted wallet does not match its public key");
    }
    return use(secret, key);
  } finally {
    secret.fill(0);
  }
}

/** The wallet as a web3.js Keypair, checked (`openVerified`): for transactions signed with `signTransaction`. */
export function openKeypair(ring: KeyRing, secretEncrypted: string, publicKey: string): Keypair {
  // A copy: Keypair keeps views into the bytes it is given, and ours are wiped.
  return openVerified(ring, secretEncrypted, publicKey, (secret) =>
    Keypair.fromSecretKey(Uint8Array.from(secret), { skipValidation: true }),
  );
}

/**
 * The wallet's signing key for a paid call's one signature, checked as `openKeypair` is: the key
 * is imported once for the check and the signature (issue 11's profile: two imports a call before).
 */
export function openWalletSigner(ring: KeyRing, secretEncrypted: string, publicKey: string): Ed25519SigningKey {
  return openVerified(ring, secretEncrypted, publicKey, (_secret, key) => key);
}
