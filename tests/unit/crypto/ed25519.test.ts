import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { Keypair, type PublicKey, SystemProgram, Transaction } from "@solana/web3.js";
import { ed25519PublicKey, ed25519Sign, ed25519SigningKey, ed25519Verify } from "@/lib/crypto/ed25519";
import { encryptSecret, SecretBoxError, type KeyRing } from "@/lib/crypto/secret-box";
import { openKeypair, openWalletSigner, sealKeypair } from "@/lib/crypto/wallet-keys";
import { signSingleSignerMessage, signTransaction, unsignedWire } from "@/lib/solana/signing";

/** Native Ed25519 must be byte-for-byte what web3.js makes: Ed25519 signatures are deterministic. */

const ring: KeyRing = { current: { version: 1, key: randomBytes(32) }, decryptOnly: [] };

function transfer(from: Keypair, to: PublicKey, blockhash = Keypair.generate().publicKey.toBase58()) {
  return new Transaction({ feePayer: from.publicKey, blockhash, lastValidBlockHeight: 150 }).add(
    SystemProgram.transfer({ fromPubkey: from.publicKey, toPubkey: to, lamports: 1_000 }),
  );
}

describe("native Ed25519", () => {
  it("derives the same public key and the same signatures as web3.js, and verifies only what was signed", () => {
    for (let i = 0; i < 20; i += 1) {
      const keypair = Keypair.generate();
      expect(Buffer.from(ed25519PublicKey(keypair.secretKey))).toEqual(keypair.publicKey.toBuffer());
      const message = randomBytes(100 + i);
      const signature = ed25519Sign(keypair.secretKey, message);
      const reference = transfer(keypair, Keypair.generate().publicKey);
      reference.sign(keypair);
      expect(ed25519Verify(keypair.publicKey.toBytes(), message, signature)).toBe(true);
      const tampered = Buffer.from(message);
      tampered[0]! ^= 1;
      expect(ed25519Verify(keypair.publicKey.toBytes(), tampered, signature)).toBe(false);
      expect(ed25519Verify(Keypair.generate().publicKey.toBytes(), message, signature)).toBe(false);
      expect(ed25519Verify(keypair.publicKey.toBytes(), message, signature.subarray(1))).toBe(false);
    }
  });

  it("signs a transaction to the same bytes as Transaction.sign, several signers included", () => {
    const payer = Keypair.generate();
    const other = Keypair.generate();
    const blockhash = Keypair.generate().publicKey.toBase58();
    const build = () =>
      transfer(payer, Keypair.generate().publicKey, blockhash).add(
        SystemProgram.transfer({ fromPubkey: other.publicKey, toPubkey: payer.publicKey, lamports: 5 }),
      );
    const ours = build();
    const reference = Transaction.from(ours.serialize({ requireAllSignatures: false, verifySignatures: false }));
    signTransaction(ours, payer, other, payer);
    reference.sign(payer, other);
    expect(ours.serialize({ verifySignatures: false })).toEqual(reference.serialize());
    // web3.js's own verification accepts the native signatures.
    expect(ours.verifySignatures()).toBe(true);

    // A signer the message does not name is refused, as web3.js refuses it; a missing one too.
    expect(() => signTransaction(build(), payer, other, Keypair.generate())).toThrow();
    expect(() => signTransaction(build(), payer)).toThrow(/Missing signature/);
    // A signature made over another message (another recipient) does not verify.
    const forged = build();
    signTransaction(forged, payer, other);
    forged.signatures[1]!.signature = ours.signatures[1]!.signature;
    expect(forged.verifySignatures()).toBe(false);
  });

  it("signs a one-signer message as given into the same wire bytes as Transaction.sign", () => {
    const payer = Keypair.generate();
    const tx = transfer(payer, Keypair.generate().publicKey);
    const message = tx.serializeMessage();
    const { wire, signature } = signSingleSignerMessage(ed25519SigningKey(payer.secretKey), message);
    tx.sign(payer);
    expect(wire).toEqual(tx.serialize());
    expect(signature).toEqual(tx.signature);
    // A message asking for two signatures is not a one-signer message.
    const two = transfer(payer, Keypair.generate().publicKey).add(
      SystemProgram.transfer({ fromPubkey: Keypair.generate().publicKey, toPubkey: payer.publicKey, lamports: 1 }),
    );
    expect(() => signSingleSignerMessage(ed25519SigningKey(payer.secretKey), two.serializeMessage())).toThrow(/exactly one signature/);
  });

  it("lays an unsigned transaction around its message as Transaction.serialize does, one or several signers", () => {
    const payer = Keypair.generate();
    const one = transfer(payer, Keypair.generate().publicKey);
    expect(unsignedWire(one.serializeMessage())).toEqual(one.serialize({ requireAllSignatures: false, verifySignatures: false }));
    const two = transfer(payer, Keypair.generate().publicKey).add(
      SystemProgram.transfer({ fromPubkey: Keypair.generate().publicKey, toPubkey: payer.publicKey, lamports: 1 }),
    );
    expect(unsignedWire(two.serializeMessage())).toEqual(two.serialize({ requireAllSignatures: false, verifySignatures: false }));
  });

  it("opens a sealed wallet only when its seed derives the public key it claims", () => {
    const keypair = Keypair.generate();
    const sealed = sealKeypair(ring, keypair);
    expect(openKeypair(ring, sealed.secretEncrypted, sealed.publicKey).secretKey).toEqual(keypair.secretKey);
    // The paid call's signer: the same wallet, the same signatures as web3.js's.
    const signer = openWalletSigner(ring, sealed.secretEncrypted, sealed.publicKey);
    expect(Buffer.from(signer.publicKey)).toEqual(keypair.publicKey.toBuffer());
    const message = randomBytes(120);
    expect(signer.sign(message)).toEqual(ed25519Sign(keypair.secretKey, message));
    // A secret whose second half names another wallet, sealed for that wallet: refused before anything is signed.
    const impostor = Keypair.generate();
    const mixed = Uint8Array.from([...keypair.secretKey.subarray(0, 32), ...impostor.publicKey.toBytes()]);
    for (const open of [openKeypair, openWalletSigner])
      expect(() => open(ring, encryptSecret(ring, mixed, impostor.publicKey.toBase58()), impostor.publicKey.toBase58())).toThrow(
        SecretBoxError,
      );
    // Sealed for one wallet, claimed for another: refused too.
    expect(() => openWalletSigner(ring, sealed.secretEncrypted, impostor.publicKey.toBase58())).toThrow();
  });
});
