import type { VerifiedKey } from "./schemas";

/**
 * Key verifications that held, kept a few seconds by the hash of the key presented (issue 11: on
 * the embedded default a verification was a quarter of a millisecond of the database's thread on
 * every paid call, the same few keys verified hundreds of times a second).
 *
 * Only the paid call route reuses them, because its reservation checks the same facts again in
 * SQL, under the key's lock, before anything is reserved or paid: the presented hash is still one
 * of the key's and the key active (`tdk_begin_paid_call`), the account not suspended
 * (`tdk_reserve_call`), and the operator's overrides of the account's limits are read from its row
 * (`tdk_begin_paid_call`). What a reused verification can carry stale, for `ttlMs` at most, is only
 * what decides nothing about money: the tier its rate limit is counted by. Revoking or rotating a
 * key through this process forgets it at once; other instances forget it when it expires, or when
 * their reservation refuses it.
 */
export class RecentVerifications {
  private readonly entries = new Map<string, { key: VerifiedKey; expiresAt: number }>();

  constructor(private readonly options: { ttlMs: number; maxEntries: number; now?: () => number }) {}

  private now(): number {
    return (this.options.now ?? Date.now)();
  }

  /** The verification of this hash, if it held less than `ttlMs` ago. */
  get(keyHash: string): VerifiedKey | null {
    const entry = this.entries.get(keyHash);
    if (!entry) return null;
    if (entry.expiresAt <= this.now()) {
      this.entries.delete(keyHash);
      return null;
    }
    return entry.key;
  }

  /** Keeps a verification that held; the oldest kept goes when the map is full. */
  remember(key: VerifiedKey): void {
    this.entries.delete(key.key_hash);
    if (this.entries.size >= this.options.maxEntries) {
      // A Map iterates in insertion order: the first entry is the oldest remembered.
      const oldest = this.entries.keys().next().value;
      if (oldest !== undefined) this.entries.delete(oldest);
    }
    this.entries.set(key.key_hash, { key, expiresAt: this.now() + this.options.ttlMs });
  }

  /** Forgets every verification of this key (any of its hashes): it was revoked, rotated or refused. */
  forgetKey(keyId: string): void {
    for (const [hash, entry] of this.entries) if (entry.key.key_id === keyId) this.entries.delete(hash);
  }

  get size(): number {
    return this.entries.size;
  }
}
