import { randomBytes } from "node:crypto";
import { getBase58Decoder, getBase58Encoder } from "@solana/kit";
import { Keypair } from "@solana/web3.js";
import { describe, expect, it } from "vitest";
import { fromBase58, toBase58 } from "@/lib/solana/base58";

// @solana/kit's codec, the one the gateway used before: the reference every string must match.
const reference = getBase58Decoder();
const referenceReader = getBase58Encoder();
const ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

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

describe("fromBase58", () => {
  it("reads any base-58 string as @solana/kit reads it: leading 1s, lengths across its five-digit chunks, empty", () => {
    const strings = ["", "1", "111", "2", "z", "11z", "zzzzz", "zzzzzz", "21111", "111112"];
    for (let i = 0; i < 3_000; i += 1) {
      const length = i % 97;
      let text = "";
      for (let k = 0; k < length; k += 1) text += ALPHABET[randomBytes(1)[0]! % 58];
      // Some with leading "1"s: each is a leading zero byte.
      strings.push(i % 7 === 0 ? "1".repeat(1 + (i % 3)) + text : text);
    }
    for (const text of strings) expect(fromBase58(text)).toEqual(new Uint8Array(referenceReader.encode(text)));
  });

  it("refuses characters outside the alphabet without quoting the string (secrets are read here too)", () => {
    for (const text of ["0", "O", "I", "l", "abc+", "3 4", "é", "5Kd3NBUAdUnhyzenEwVLy9pBKxSwXvE9FMPyR4UKZvpe0"]) {
      expect(() => fromBase58(text)).toThrow(/^Not a base-58 string$/);
    }
  });
});
