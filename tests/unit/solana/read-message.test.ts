import { randomBytes } from "node:crypto";
import { createTransferCheckedInstruction, createTransferInstruction } from "@solana/spl-token";
import { ComputeBudgetProgram, Keypair, Message, SystemProgram, Transaction, TransactionInstruction } from "@solana/web3.js";
import { describe, expect, it } from "vitest";
import { toBase58 } from "@/lib/solana/base58";
import { MEMO_PROGRAM_ID } from "@/lib/solana/memo";
import { isLegacyAccountWritable, readLegacyMessage } from "@/lib/solana/signing";

const key = () => Keypair.generate().publicKey;

/** Messages of every shape a payment or a funding transfer takes, compiled by web3.js (the reference reader). */
function messages(): Buffer[] {
  return Array.from({ length: 200 }, (_, i) => {
    const payer = key();
    const instructions: TransactionInstruction[] = [];
    if (i % 3 === 0) instructions.push(ComputeBudgetProgram.setComputeUnitPrice({ microLamports: i }));
    if (i % 4 === 0) instructions.push(SystemProgram.transfer({ fromPubkey: payer, toPubkey: key(), lamports: 1_000 + i }));
    const mint = key();
    instructions.push(
      i % 2 === 0
        ? createTransferCheckedInstruction(key(), mint, key(), payer, 900n + BigInt(i), 6)
        : createTransferInstruction(key(), key(), payer, 100n),
    );
    // A second signer (read-only or writable) now and then, so every header count is exercised.
    if (i % 5 === 0)
      instructions.push(
        new TransactionInstruction({
          programId: MEMO_PROGRAM_ID,
          keys: [{ pubkey: key(), isSigner: true, isWritable: i % 10 === 0 }],
          data: randomBytes(i % 40),
        }),
      );
    if (i % 7 === 0) instructions.push(new TransactionInstruction({ programId: MEMO_PROGRAM_ID, keys: [], data: Buffer.alloc(0) }));
    return new Transaction({ feePayer: payer, blockhash: key().toBase58(), lastValidBlockHeight: 1 })
      .add(...instructions)
      .serializeMessage();
  });
}

describe("readLegacyMessage", () => {
  it("reads what web3.js's Message.from reads: header, keys, blockhash, each instruction, and who may write", () => {
    for (const bytes of messages()) {
      const read = readLegacyMessage(bytes)!;
      const reference = Message.from(bytes);
      expect(read.numRequiredSignatures).toBe(reference.header.numRequiredSignatures);
      expect(read.numReadonlySignedAccounts).toBe(reference.header.numReadonlySignedAccounts);
      expect(read.numReadonlyUnsignedAccounts).toBe(reference.header.numReadonlyUnsignedAccounts);
      expect(read.accountKeys.map((k) => toBase58(k))).toEqual(reference.accountKeys.map((k) => k.toBase58()));
      expect(toBase58(read.recentBlockhash)).toBe(reference.recentBlockhash);
      expect(
        read.instructions.map((ix) => ({ programIdIndex: ix.programIdIndex, accounts: ix.accountIndexes, data: toBase58(ix.data) })),
      ).toEqual(reference.instructions);
      for (let index = 0; index < read.accountKeys.length; index += 1)
        expect(isLegacyAccountWritable(read, index)).toBe(reference.isAccountWritable(index));
    }
  });

  it("refuses a message cut short at any byte, and a versioned one; allows bytes after the last instruction", () => {
    const [bytes] = messages();
    for (let length = 0; length < bytes!.length; length += 1) expect(readLegacyMessage(bytes!.subarray(0, length))).toBeNull();
    expect(readLegacyMessage(Buffer.concat([bytes!, Buffer.from([7, 7])]))?.instructions).toEqual(readLegacyMessage(bytes!)?.instructions);
    const versioned = Buffer.from(bytes!);
    versioned[0] = 0x80;
    expect(readLegacyMessage(versioned)).toBeNull();
  });
});
