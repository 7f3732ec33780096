import { describe, expect, it } from "vitest";
import { RecentVerifications } from "@/lib/keys/recent-verifications";
import type { VerifiedKey } from "@/lib/keys/schemas";

function verified(keyId: string, keyHash: string): VerifiedKey {
  return {
    key_id: keyId,
    account_id: "00000000-0000-4000-8000-000000000001",
    name: "k",
    mode: "test",
    prefix: "tk_test_abcd",
    status: "active",
    suspended_reason: null,
    account_suspended_reason: null,
    tier: "free",
    wallet_public_key: "11111111111111111111111111111111",
    key_hash: keyHash,
  };
}

describe("RecentVerifications", () => {
  it("reuses a verification for its TTL only", () => {
    let now = 1_000;
    const recent = new RecentVerifications({ ttlMs: 2_000, maxEntries: 10, now: () => now });
    recent.remember(verified("a", "h1"));
    expect(recent.get("h1")?.key_id).toBe("a");
    now += 1_999;
    expect(recent.get("h1")?.key_id).toBe("a");
    now += 1;
    expect(recent.get("h1")).toBeNull();
    expect(recent.size).toBe(0);
    expect(recent.get("never")).toBeNull();
  });

  it("holds at most maxEntries, the oldest remembered going first", () => {
    const recent = new RecentVerifications({ ttlMs: 60_000, maxEntries: 2 });
    recent.remember(verified("a", "h1"));
    recent.remember(verified("b", "h2"));
    recent.remember(verified("a", "h1")); // remembered again: now the newest
    recent.remember(verified("c", "h3"));
    expect(recent.size).toBe(2);
    expect(recent.get("h2")).toBeNull();
    expect(recent.get("h1")?.key_id).toBe("a");
    expect(recent.get("h3")?.key_id).toBe("c");
  });

  it("forgets every hash of a key (its current and its previous secret) and nothing else", () => {
    const recent = new RecentVerifications({ ttlMs: 60_000, maxEntries: 10 });
    recent.remember(verified("a", "current"));
    recent.remember(verified("a", "previous"));
    recent.remember(verified("b", "other"));
    recent.forgetKey("a");
    expect(recent.get("current")).toBeNull();
    expect(recent.get("previous")).toBeNull();
    expect(recent.get("other")?.key_id).toBe("b");
  });
});
