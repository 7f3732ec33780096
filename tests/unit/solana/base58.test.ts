import { randomBytes } from "node:crypto";
import { getBase58Decoder } from "@solana/kit";
import { Keypair } from "@solana/web3.js";
import { describe, expect, it } from "vitest";
import { fromBase58, toBase58 } from "@/lib/solana/base58";

// @solana/kit's codec, the one the gateway used before: the reference every string must match.
const reference = getBase58Decoder();

describe("toBase58", () => {
  it("writes what @solana/kit writes, leading zero bytes, empty and all-zero inputs included", () => {
    const edges = [
      new Uint8Array(0),
      new Uint8Array(1),
      new Uint8Array(32),
      Uint8Array.from([0, 0, 1]),
      Uint8Array.from([255]),
      Uint8Array.from([57]),
      Uint8Array.from([58]),
      new Uint8Array(64).fill(255),
    ];
    const random = Array.from({ length: 2_000 }, (_, i) => {
      const bytes = randomBytes([32, 64, 1 + (i % 80)][i % 3]!);
      // Some with one or several leading zero bytes: each is a leading "1".
      bytes.fill(0, 0, i % 5 === 0 ? 1 + (i % 4) : 0);
      return new Uint8Array(bytes);
    });
    for (const bytes of [...edges, ...random]) {
      const written = toBase58(bytes);
      expect(written).toBe(reference.decode(bytes));
      expect(fromBase58(written)).toEqual(bytes);
    }
  });

  it("writes a public key as web3.js does", () => {
    for (let i = 0; i < 50; i += 1) {
      const key = Keypair.generate().publicKey;
      expect(toBase58(key.toBytes())).toBe(key.toBase58());
    }
  });
});
