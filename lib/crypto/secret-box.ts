import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";

/**
 * AES-256-GCM envelope for wallet secrets, bound to the row that holds them.
 *
 *   tdkenc:1:<key version>:<iv>:<tag>:<ciphertext>     (iv/tag/ciphertext base64url)
 *
 * - format version 1: AES-256-GCM, 96-bit random IV, 128-bit tag;
 * - key version: which master key encrypted it, so old keys stay decrypt-only after a rotation;
 * - AAD: "tdk-wallet-secret:1:<public key>": a ciphertext copied onto another row fails to decrypt.
 */

export interface MasterKey {
  version: number;
  key: Buffer;
}

export interface KeyRing {
  /** Encrypts new secrets. */
  current: MasterKey;
  /** Still decrypts what it once encrypted, until the rotation script has re-encrypted every row. */
  decryptOnly: MasterKey[];
}

export class SecretBoxError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "SecretBoxError";
  }
}

const PREFIX = "tdkenc";
const FORMAT_VERSION = 1;
const IV_BYTES = 12;
const TAG_BYTES = 16;

function aad(boundTo: string): Buffer {
  return Buffer.from(`tdk-wallet-secret:${FORMAT_VERSION}:${boundTo}`, "utf8");
}

function assertKey(key: MasterKey): void {
  if (key.key.length !== 32) throw new SecretBoxError(`Master key version ${key.version} is not 32 bytes`);
}

export function encryptSecret(ring: KeyRing, plaintext: Uint8Array, boundTo: string): string {
  assertKey(ring.current);
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv("aes-256-gcm", ring.current.key, iv, { authTagLength: TAG_BYTES });
  cipher.setAAD(aad(boundTo));
  const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  const tag = cipher.getAuthTag();
  return [
    PREFIX,
    FORMAT_VERSION,
    ring.current.version,
    iv.toString("base64url"),
    tag.toString("base64url"),
    ciphertext.toString("base64url"),
  ].join(":");
}

/** The key version a payload was encrypted with (rotation reads it without decrypting). */
export function keyVersionOf(payload: string): number {
  return parseEnvelope(payload).keyVersion;
}

function parseEnvelope(payload: string) {
  const parts = payload.split(":");
  if (parts.length !== 6 || parts[0] !== PREFIX) throw new SecretBoxError("Not an encrypted secret");
  const [, format, keyVersion, iv, tag, ciphertext] = parts as [string, string, string, string, string, string];
  if (Number(format) !== FORMAT_VERSION) throw new SecretBoxError(`Unsupported secret format version ${format}`);
  if (!/^\d+$/.test(keyVersion)) throw new SecretBoxError("Malformed key version");
  return {
    keyVersion: Number(keyVersion),
    iv: Buffer.from(iv, "base64url"),
    tag: Buffer.from(tag, "base64url"),
    ciphertext: Buffer.from(ciphertext, "base64url"),
  };
}

export function decryptSecret(ring: KeyRing, payload: string, boundTo: string): Buffer {
  const envelope = parseEnvelope(payload);
  const master = [ring.current, ...ring.decryptOnly].find((key) => key.version === envelope.keyVersion);
  if (!master) throw new SecretBoxError(`No master key for key version ${envelope.keyVersion}`);
  assertKey(master);
  if (envelope.iv.length !== IV_BYTES || envelope.tag.length !== TAG_BYTES) throw new SecretBoxError("Malformed encrypted secret");
  try {
    const decipher = createDecipheriv("aes-256-gcm", master.key, envelope.iv, { authTagLength: TAG_BYTES });
    decipher.setAAD(aad(boundTo));
    decipher.setAuthTag(envelope.tag);
    return Buffer.concat([decipher.update(envelope.ciphertext), decipher.final()]);
  } catch {
    // Wrong key, tampered bytes or another row's ciphertext: GCM cannot tell which, neither do we.
    throw new SecretBoxError("Encrypted secret failed authentication");
  }
}
