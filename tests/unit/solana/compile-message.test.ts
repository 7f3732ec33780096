import { randomBytes } from "node:crypto";
import {
  createAssociatedTokenAccountInstruction,
  createTransferCheckedInstruction,
  createTransferInstruction,
  getAssociatedTokenAddressSync,
} from "@solana/spl-token";
import { ComputeBudgetProgram, Keypair, type PublicKey, SystemProgram, Transaction, TransactionInstruction } from "@solana/web3.js";
import { describe, expect, it } from "vitest";
import { MEMO_PROGRAM_ID } from "@/lib/solana/memo";
import { compileLegacyMessage } from "@/lib/solana/signing";

/** web3.js's bytes for the same transaction: the reference every compiled message must match. */
function reference(feePayer: PublicKey, instructions: TransactionInstruction[], blockhash: string): Buffer {
  return new Transaction({ feePayer, blockhash, lastValidBlockHeight: 1 }).add(...instructions).serializeMessage();
}

const key = () => Keypair.generate().publicKey;
const blockhash = () => key().toBase58();

describe("compileLegacyMessage", () => {
  it("gives web3.js's bytes for the payments the marketplace builds, in every shape it builds them", () => {
    for (let i = 0; i < 300; i += 1) {
      const payer = key();
      const mint = key();
      const source = getAssociatedTokenAddressSync(mint, payer);
      const instructions: TransactionInstruction[] = [];
      if (i % 3 === 0)
        instructions.push(
          ComputeBudgetProgram.setComputeUnitLimit({ units: 200_000 + i }),
          ComputeBudgetProgram.setComputeUnitPrice({ microLamports: i }),
        );
      if (i % 4 === 0) {
        instructions.push(
          SystemProgram.transfer({ fromPubkey: payer, toPubkey: key(), lamports: 1_000 + i }),
          SystemProgram.transfer({ fromPubkey: payer, toPubkey: key(), lamports: 100 }),
        );
      } else {
        const transfers: TransactionInstruction[] = [];
        for (const [owner, amount] of [
          [key(), 900n + BigInt(i)],
          [key(), 100n],
        ] as const) {
          const account = getAssociatedTokenAddressSync(mint, owner);
          if (i % 5 < 2) instructions.push(createAssociatedTokenAccountInstruction(payer, account, owner, mint));
          transfers.push(
            i % 2 === 0
              ? createTransferCheckedInstruction(source, mint, account, payer, amount, 6)
              : createTransferInstruction(source, account, payer, amount),
          );
        }
        instructions.push(...transfers);
      }
      if (i % 7 === 0) instructions.push(new TransactionInstruction({ programId: MEMO_PROGRAM_ID, keys: [], data: randomBytes(20) }));
      const hash = blockhash();
      expect(compileLegacyMessage(payer, instructions, hash)).toEqual(reference(payer, instructions, hash));
    }
  });

  it("orders many keys of one kind as web3.js does (its locale order: case folded first, lower case first on a tie)", () => {
    // Forty random keys of one kind: byte order and web3.js's order part on almost every such set
    // (this test fails when the keys are sorted by their text's code units).
    const texts = new Map<string, PublicKey>();
    while (texts.size < 40) {
      const candidate = key();
      texts.set(candidate.toBase58(), candidate);
    }
    const payer = key();
    const accounts = [...texts.values()];
    const instruction = new TransactionInstruction({
      programId: key(),
      keys: accounts.map((pubkey, i) => ({ pubkey, isSigner: false, isWritable: i % 2 === 0 })),
      data: Buffer.from([1, 2, 3]),
    });
    const hash = blockhash();
    expect(compileLegacyMessage(payer, [instruction], hash)).toEqual(reference(payer, [instruction], hash));
  });

  it("merges a key's appearances (a signer and writable anywhere is so everywhere), and counts a second signer", () => {
    const payer = key();
    const cosigner = key();
    const shared = key();
    const program = key();
    const instructions = [
      new TransactionInstruction({
        programId: program,
        keys: [{ pubkey: shared, isSigner: false, isWritable: false }],
        data: Buffer.alloc(0),
      }),
      new TransactionInstruction({
        programId: program,
        keys: [
          { pubkey: shared, isSigner: false, isWritable: true },
          { pubkey: cosigner, isSigner: true, isWritable: false },
          // The payer named read-only by an instruction is still the writable first signer.
          { pubkey: payer, isSigner: false, isWritable: false },
        ],
        data: Buffer.alloc(300, 7),
      }),
      // A program that is also an account of another instruction.
      new TransactionInstruction({ programId: shared, keys: [], data: Buffer.from([9]) }),
    ];
    const hash = blockhash();
    const compiled = compileLegacyMessage(payer, instructions, hash);
    expect(compiled).toEqual(reference(payer, instructions, hash));
    expect([...compiled.subarray(0, 3)]).toEqual([2, 1, 1]);
  });

  it("compiles a message whose fee payer no instruction names, and refuses a blockhash that is not 32 bytes", () => {
    const payer = key();
    const memo = [new TransactionInstruction({ programId: MEMO_PROGRAM_ID, keys: [], data: Buffer.from("hello") })];
    const hash = blockhash();
    expect(compileLegacyMessage(payer, memo, hash)).toEqual(reference(payer, memo, hash));
    expect(() => compileLegacyMessage(payer, memo, "1111")).toThrow(/32 bytes/);
  });
});
