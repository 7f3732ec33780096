import { describe, expect, it } from "vitest";
import { getAssociatedTokenAddressSync } from "@solana/spl-token";
import { Keypair, PublicKey } from "@solana/web3.js";
import { associatedTokenAddress } from "@/lib/solana/signing";

describe("associatedTokenAddress", () => {
  it("is spl-token's derivation for every mint and owner pair, asked once or again, an off-curve owner included", () => {
    const mints = [Keypair.generate().publicKey, Keypair.generate().publicKey];
    // A program-derived address is off the curve: a token account may still belong to it.
    const [pda] = PublicKey.findProgramAddressSync([Buffer.from("vault")], Keypair.generate().publicKey);
    const owners = [...Array.from({ length: 40 }, () => Keypair.generate().publicKey), pda];
    const seen = new Set<string>();
    for (let round = 0; round < 2; round += 1) {
      for (const mint of mints) {
        for (const owner of owners) {
          // A fresh PublicKey of the same bytes: the memory goes by the key's bytes, not by the object.
          const address = associatedTokenAddress(new PublicKey(mint.toBytes()), new PublicKey(owner.toBytes()));
          expect(address.toBase58()).toBe(getAssociatedTokenAddressSync(mint, owner, true).toBase58());
          seen.add(address.toBase58());
        }
      }
    }
    // Two mints × 41 owners: as many addresses, none mixed up between pairs.
    expect(seen.size).toBe(mints.length * owners.length);
  });
});
