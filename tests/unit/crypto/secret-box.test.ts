import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { Keypair } from "@solana/web3.js";
import { decryptSecret, encryptSecret, keyVersionOf, SecretBoxError, type KeyRing } from "@/lib/crypto/secret-box";
import { openKeypair, openWalletSigner, sealKeypair } from "@/lib/crypto/wallet-keys";

const ring = (version = 1, key = randomBytes(32)): KeyRing => ({ current: { version, key }, decryptOnly: [] });

describe("wallet secret encryption (AES-256-GCM, versioned, row-bound)", () => {
  it("round-trips a wallet and never stores the secret in clear", () => {
    const keys = ring();
    const wallet = Keypair.generate();
    const sealed = sealKeypair(keys, wallet);
    expect(sealed.secretEncrypted).toMatch(/^tdkenc:1:1:[\w-]{16}:[\w-]{22}:[\w-]+$/);
    expect(sealed.secretEncrypted).not.toContain(Buffer.from(wallet.secretKey).toString("base64url"));
    const opened = openKeypair(keys, sealed.secretEncrypted, sealed.publicKey);
    expect(Buffer.from(opened.secretKey)).toEqual(Buffer.from(wallet.secretKey));
    expect(opened.publicKey.toBase58()).toBe(wallet.publicKey.toBase58());
  });

  it("uses a fresh IV each time", () => {
    const keys = ring();
    const secret = randomBytes(64);
    expect(encryptSecret(keys, secret, "row")).not.toBe(encryptSecret(keys, secret, "row"));
  });

  it("fails with the wrong master key", () => {
    const sealed = sealKeypair(ring(1), Keypair.generate());
    expect(() => openKeypair(ring(1), sealed.secretEncrypted, sealed.publicKey)).toThrow(SecretBoxError);
  });

  it("fails on a tampered ciphertext, tag or IV", () => {
    const keys = ring();
    const sealed = sealKeypair(keys, Keypair.generate());
    const parts = sealed.secretEncrypted.split(":");
    for (const index of [3, 4, 5]) {
      const bytes = Buffer.from(parts[index]!, "base64url");
      bytes[0] = bytes[0]! ^ 0x01;
      const tampered = [...parts];
      tampered[index] = bytes.toString("base64url");
      expect(() => decryptSecret(keys, tampered.join(":"), sealed.publicKey), `part ${index}`).toThrow(SecretBoxError);
    }
  });

  it("fails when a ciphertext is moved to another row (AAD binds it to its public key)", () => {
    const keys = ring();
    const a = sealKeypair(keys, Keypair.generate());
    const b = sealKeypair(keys, Keypair.generate());
    expect(() => openKeypair(keys, a.secretEncrypted, b.publicKey)).toThrow("failed authentication");
  });

  it("refuses a secret whose derived public key differs from the row's, even if it decrypts", () => {
    const keys = ring();
    const stranger = Keypair.generate();
    const claimed = Keypair.generate().publicKey.toBase58();
    // Encrypted under the claimed key's AAD, but holding another wallet's secret.
    const forged = encryptSecret(keys, stranger.secretKey, claimed);
    expect(() => openKeypair(keys, forged, claimed)).toThrow("does not match its public key");
  });

  it("refuses a secret whose seed and embedded public key disagree, even when the seed's key is the row's", () => {
    const keys = ring();
    const owner = Keypair.generate();
    // The owner's seed followed by another wallet's public key, encrypted for the owner's row.
    const spliced = Uint8Array.from([...owner.secretKey.subarray(0, 32), ...Keypair.generate().publicKey.toBytes()]);
    const sealed = encryptSecret(keys, spliced, owner.publicKey.toBase58());
    expect(() => openKeypair(keys, sealed, owner.publicKey.toBase58())).toThrow("does not match its public key");
    expect(() => openWalletSigner(keys, sealed, owner.publicKey.toBase58())).toThrow("does not match its public key");
  });

  it("still decrypts with an old key version kept decrypt-only, and encrypts with the new one", () => {
    const v1 = randomBytes(32);
    const old = ring(1, v1);
    const sealed = sealKeypair(old, Keypair.generate());
    const rotated: KeyRing = { current: { version: 2, key: randomBytes(32) }, decryptOnly: [{ version: 1, key: v1 }] };
    expect(openKeypair(rotated, sealed.secretEncrypted, sealed.publicKey).publicKey.toBase58()).toBe(sealed.publicKey);
    expect(keyVersionOf(sealKeypair(rotated, Keypair.generate()).secretEncrypted)).toBe(2);
    const withoutOld: KeyRing = { current: rotated.current, decryptOnly: [] };
    expect(() => openKeypair(withoutOld, sealed.secretEncrypted, sealed.publicKey)).toThrow("No master key for key version 1");
  });

  it("rejects malformed envelopes without leaking anything", () => {
    const keys = ring();
    for (const payload of ["", "plain-secret", "tdkenc:2:1:a:b:c", "tdkenc:1:x:a:b:c", "tdkenc:1:1:AAAA:BBBB:CCCC"]) {
      expect(() => decryptSecret(keys, payload, "row")).toThrow(SecretBoxError);
    }
  });
});
