import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Keypair, PublicKey, SystemProgram, Transaction } from "@solana/web3.js";
import { z } from "zod";
import { registerAccount } from "@/lib/auth/accounts";
import type { AppContext } from "@/lib/context";
import { callFunction } from "@/lib/db";
import { createApiKey } from "@/lib/keys/keys";
import { fundWallets, listFundings, resolvePendingFundings, type FundingDeps, type FundingTarget } from "@/lib/solana/funding";
import { toBase58 } from "@/lib/solana/base58";
import { LocalLedger } from "@/lib/solana/local-ledger";
import { createTestApp, expireBlockhashes, strongPassword, uniqueEmail } from "../helpers/app";
import { servicesFor } from "@/lib/services";

let app: AppContext;
let accountId: string;
let deps: FundingDeps;

beforeAll(async () => {
  app = await createTestApp();
  const account = await registerAccount(app.db, uniqueEmail("funding"), strongPassword);
  if (!account.ok) throw new Error("setup");
  accountId = account.account.id;
  // A pro account: these tests are about the mechanics, far under its caps.
  await callFunction(app.db, "tdk_set_account_tier", { p_account_id: accountId, p_tier: "pro" }, z.unknown());
  deps = (await servicesFor(app).funding.deps())!;
});

async function newKey() {
  // Unfunded at creation, so each test sees only the fundings it makes.
  const keys = await servicesFor(app).keys.deps();
  const result = await createApiKey({ ...keys, config: { ...keys.config, initialUsdcMicro: 0n, initialSolLamports: 0n } }, accountId, "k");
  if (!result.ok) throw new Error(result.code);
  return result.key;
}

const target = (
  key: { id: string; wallet: { public_key: string } },
  usdcMicro: bigint,
  solLamports: bigint,
  usdcAccountExists = false,
): FundingTarget => ({
  keyId: key.id,
  wallet: new PublicKey(key.wallet.public_key),
  reason: "topup",
  usdcMicro,
  solLamports,
  usdcAccountExists,
});

describe("wallet funding on the local ledger", () => {
  it("moves exactly the reserved amounts; the treasury pays the fee and the token account's rent, recorded to the lamport", async () => {
    const key = await newKey();
    const owner = new PublicKey(key.wallet.public_key);
    const treasury = deps.treasury.publicKey;
    const treasuryBefore = { usdc: await app.ledger.getUsdcBalance(treasury), sol: await app.ledger.getSolBalance(treasury) };

    const { fundings, refused } = await fundWallets(deps, [target(key, 2_500_000n, 7_000_000n)]);
    expect(refused).toEqual([]);
    expect(fundings[0]!.status).toBe("confirmed");

    expect(await app.ledger.getUsdcBalance(owner)).toBe(2_500_000n);
    expect(await app.ledger.getSolBalance(owner)).toBe(7_000_000n);
    expect(await app.ledger.getUsdcBalance(treasury)).toBe(treasuryBefore.usdc - 2_500_000n);
    const solSpent = treasuryBefore.sol - (await app.ledger.getSolBalance(treasury));
    // 7,000,000 sent + 5,000 fee + the token account's rent (2,039,280 lamports for 165 bytes)...
    expect(solSpent).toBe(7_000_000n + 5_000n + 2_039_280n);
    // ...and the funding row says so: what the caps count is what the treasury paid.
    const [row] = await listFundings(app.db, key.id);
    expect(BigInt(row!.sol_lamports + row!.overhead_lamports)).toBe(solSpent);
  });

  it("two identical fundings are two transactions, both recorded with their signatures", async () => {
    const key = await newKey();
    const owner = new PublicKey(key.wallet.public_key);
    const first = (await fundWallets(deps, [target(key, 1_000_000n, 0n)])).fundings[0]!;
    const second = (await fundWallets(deps, [target(key, 1_000_000n, 0n, true)])).fundings[0]!;
    expect(first.tx_signature).not.toBe(second.tx_signature);
    expect(await app.ledger.getUsdcBalance(owner)).toBe(2_000_000n);
    const rows = await listFundings(app.db, key.id);
    expect(rows.map((row) => [row.status, row.tx_signature])).toEqual([
      ["confirmed", first.tx_signature],
      ["confirmed", second.tx_signature],
    ]);
  });

  it("a funding the chain rejects is recorded failed and moves nothing", async () => {
    const key = await newKey();
    const owner = new PublicKey(key.wallet.public_key);
    const poorTreasury = Keypair.generate(); // no SOL, no USDC: cannot even pay the fee
    const { fundings } = await fundWallets({ ...deps, treasury: poorTreasury }, [target(key, 1n, 1n)]);
    expect(fundings[0]!.status).toBe("failed");
    expect(fundings[0]!.error).toMatch(/Transaction (failed|refused)/); // a fee payer that cannot pay: dropped unrecorded, by the embedded ledger as by a cluster
    expect(await app.ledger.getUsdcBalance(owner)).toBe(0n);
  });

  it("a crash after sending leaves a pending record that is resolved from the chain, not sent again", async () => {
    const key = await newKey();
    const owner = new PublicKey(key.wallet.public_key);
    const crash = {
      ...deps,
      afterStep: (step: string) => {
        if (step === "sent") throw new Error("crash after send");
      },
    };
    await expect(fundWallets(crash, [target(key, 3_000_000n, 0n)])).rejects.toThrow("crash after send");
    const [pending] = await listFundings(app.db, key.id);
    expect(pending!.status).toBe("pending");

    expect(await resolvePendingFundings(app.db, app.ledger, new Date())).toBeGreaterThanOrEqual(1);
    const [row] = await listFundings(app.db, key.id);
    expect(row).toMatchObject({ status: "confirmed", tx_signature: pending!.tx_signature });
    expect(await app.ledger.getUsdcBalance(owner)).toBe(3_000_000n);
    // A second pass changes nothing.
    await resolvePendingFundings(app.db, app.ledger, new Date());
    expect(await app.ledger.getUsdcBalance(owner)).toBe(3_000_000n);
  });

  it("a crash before signing leaves an unsigned reservation, released without anything sent; one signed but never sent fails once its blockhash expires", async () => {
    const key = await newKey();
    const owner = new PublicKey(key.wallet.public_key);
    const crashAt = (at: string) => ({
      ...deps,
      afterStep: (step: string) => {
        if (step === at) throw new Error(`crash at ${at}`);
      },
    });

    await expect(fundWallets(crashAt("reserved"), [target(key, 1_000_000n, 0n)])).rejects.toThrow();
    expect((await listFundings(app.db, key.id))[0]).toMatchObject({ status: "pending", tx_signature: null });
    // While it is unresolved the key gets no other funding (no double funding).
    expect((await fundWallets(deps, [target(key, 1_000_000n, 0n)])).refused).toEqual([{ keyId: key.id, code: "funding_in_flight" }]);
    // Not released while it could still be signed; released after.
    await resolvePendingFundings(app.db, app.ledger, new Date());
    expect((await listFundings(app.db, key.id))[0]!.status).toBe("pending");
    await resolvePendingFundings(app.db, app.ledger, new Date(), { unsignedTtlMs: 0 });
    expect((await listFundings(app.db, key.id))[0]).toMatchObject({ status: "failed", tx_signature: null });

    await expect(fundWallets(crashAt("signed"), [target(key, 2_000_000n, 0n)])).rejects.toThrow();
    const signed = (await listFundings(app.db, key.id))[1]!;
    expect(signed.tx_signature).not.toBeNull();
    await resolvePendingFundings(app.db, app.ledger, new Date());
    expect((await listFundings(app.db, key.id))[1]!.status).toBe("pending"); // could still land
    await expireBlockhashes(app);
    await resolvePendingFundings(app.db, app.ledger, new Date());
    expect((await listFundings(app.db, key.id))[1]!.status).toBe("failed");
    expect(await app.ledger.getSignatureStatus(signed.tx_signature!)).toBe("unknown");
    expect(await app.ledger.getUsdcBalance(owner)).toBe(0n);
  });
});

describe("the local ledger takes a signed transaction's bytes as received", () => {
  it("lands them once, and refuses unsigned, versioned, miscounted, cut-short or replayed bytes without changing anything", async () => {
    const ledger = await LocalLedger.open(null);
    try {
      const payer = Keypair.generate();
      const recipient = Keypair.generate().publicKey;
      await ledger.fund(payer.publicKey, 0n, 1_000_000_000n);
      const { blockhash, lastValidBlockHeight } = await ledger.latestBlockhash();
      const tx = new Transaction({ feePayer: payer.publicKey, blockhash, lastValidBlockHeight }).add(
        SystemProgram.transfer({ fromPubkey: payer.publicKey, toPubkey: recipient, lamports: 5_000_000 }),
      );
      const unsigned = tx.serialize({ requireAllSignatures: false, verifySignatures: false });
      tx.sign(payer);
      const wire = tx.serialize();

      await expect(ledger.sendRawTransaction(unsigned, lastValidBlockHeight)).rejects.toMatchObject({ outcome: "rejected" });
      const versioned = Buffer.from(wire);
      versioned[65] = 0x80; // the message's first byte: a versioned message's high bit
      await expect(ledger.sendRawTransaction(versioned, lastValidBlockHeight)).rejects.toThrow(/legacy/);
      // Two signatures for a message that asks for one (the payer's, then another).
      const twoSignatures = Buffer.concat([Buffer.from([2]), tx.signature!, randomBytes(64), wire.subarray(65)]);
      await expect(ledger.sendRawTransaction(twoSignatures, lastValidBlockHeight)).rejects.toMatchObject({
        outcome: "rejected",
        message: expect.stringMatching(/legacy/),
      });
      // Cut short inside its instruction (the transfer's 12 data bytes and their length): web3.js
      // parses it, LiteSVM would abort the process on it.
      for (const cut of [1, 12, 13]) {
        await expect(ledger.sendRawTransaction(wire.subarray(0, wire.length - cut), lastValidBlockHeight)).rejects.toMatchObject({
          outcome: "rejected",
          message: expect.stringMatching(/legacy/),
        });
      }
      expect(await ledger.getSolBalance(recipient)).toBe(0n);
      expect(await ledger.getSignatureStatus(toBase58(tx.signature!))).toBe("unknown");

      const signature = await ledger.sendRawTransaction(wire, lastValidBlockHeight);
      expect(signature).toBe(toBase58(tx.signature!));
      expect(await ledger.getSignatureStatus(signature)).toBe("confirmed");
      expect(await ledger.getSolBalance(recipient)).toBe(5_000_000n);
      // Every account the message names finds it in its history.
      expect(await ledger.signaturesForAddress(recipient)).toEqual([signature]);
      expect((await ledger.signaturesForAddress(payer.publicKey))[0]).toBe(signature);

      await expect(ledger.sendRawTransaction(wire, lastValidBlockHeight)).rejects.toThrow(/AlreadyProcessed/);
      expect(await ledger.getSolBalance(recipient)).toBe(5_000_000n);
    } finally {
      await ledger.close();
    }
  });

  it("drops what a cluster drops unrecorded (a signature that does not verify, a fee payer that cannot pay), so a forgery cannot block the genuine payment; an executed failure is recorded with its fee, across a restart", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "tdk-ledger-forged-"));
    let ledger = await LocalLedger.open(dir);
    try {
      const payer = Keypair.generate();
      const recipient = Keypair.generate().publicKey;
      await ledger.fund(payer.publicKey, 0n, 1_000_000_000n);
      const { blockhash, lastValidBlockHeight } = await ledger.latestBlockhash();
      const transfer = (from: Keypair, lamports: number) => {
        const tx = new Transaction({ feePayer: from.publicKey, blockhash, lastValidBlockHeight }).add(
          SystemProgram.transfer({ fromPubkey: from.publicKey, toPubkey: recipient, lamports }),
        );
        tx.sign(from);
        return tx;
      };
      const genuine = transfer(payer, 5_000_000);
      const signature = toBase58(genuine.signature!);
      // Whoever holds the signed payment (the marketplace it is handed to) puts its signature on
      // another message and sends that first.
      const forged = Buffer.from(transfer(payer, 7_000_000).serialize());
      genuine.signature!.copy(forged, 1);
      await expect(ledger.sendRawTransaction(forged, lastValidBlockHeight)).rejects.toMatchObject({
        outcome: "rejected",
        message: expect.stringMatching(/SignatureFailure/),
      });
      const unfunded = transfer(Keypair.generate(), 1);
      await expect(ledger.sendRawTransaction(unfunded.serialize(), lastValidBlockHeight)).rejects.toMatchObject({
        outcome: "rejected",
        message: expect.stringMatching(/AccountNotFound/),
      });
      expect(await ledger.getSignatureStatuses([signature, toBase58(unfunded.signature!)])).toEqual(["unknown", "unknown"]);
      expect(await ledger.signaturesForAddress(recipient)).toEqual([]);
      expect(await ledger.getSolBalance(payer.publicKey)).toBe(1_000_000_000n);

      expect(await ledger.sendRawTransaction(genuine.serialize(), lastValidBlockHeight)).toBe(signature);
      // More than the payer holds: executed, failed, and its fee taken, as a cluster records it.
      const overdrawn = transfer(payer, 2_000_000_000);
      await expect(ledger.sendRawTransaction(overdrawn.serialize(), lastValidBlockHeight)).rejects.toThrow(/InstructionError/);
      const fee = 5_000n;
      const expectChain = async () => {
        expect(await ledger.getSignatureStatuses([signature, toBase58(overdrawn.signature!), toBase58(unfunded.signature!)])).toEqual([
          "confirmed",
          "failed",
          "unknown",
        ]);
        expect(await ledger.getSolBalance(recipient)).toBe(5_000_000n);
        expect(await ledger.getSolBalance(payer.publicKey)).toBe(1_000_000_000n - 5_000_000n - 2n * fee);
      };
      await expectChain();
      await ledger.close();
      ledger = await LocalLedger.open(dir);
      await expectChain();
    } finally {
      await ledger.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("the local ledger survives a restart with its whole history", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), "tdk-ledger-"));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function restart(ledger: LocalLedger): Promise<LocalLedger> {
    await ledger.close();
    const reopened = await LocalLedger.open(dir);
    expect(reopened).not.toBe(ledger);
    return reopened;
  }

  it("reloads the same mint, balances, every transaction's outcome (far more than LiteSVM keeps) and the blockhashes it handed out", async () => {
    const ledger = await LocalLedger.open(dir);
    const owner = Keypair.generate().publicKey;
    const first = await ledger.fund(owner, 4_200_000n, 1_000_000n);
    const signatures = [first];
    for (let i = 0; i < 80; i += 1) signatures.push(await ledger.fund(owner, 1n, 0n));
    const { blockhash, lastValidBlockHeight } = await ledger.latestBlockhash();
    const mint = ledger.usdcMint.toBase58();

    const reopened = await restart(ledger);
    expect(reopened.usdcMint.toBase58()).toBe(mint);
    expect(await reopened.getUsdcBalance(owner)).toBe(4_200_080n);
    expect(await reopened.getSolBalance(owner)).toBe(1_000_000n);
    expect(await reopened.getSignatureStatuses(signatures)).toEqual(signatures.map(() => "confirmed"));
    expect(await reopened.getSignatureStatus(toBase58(randomBytes(64)))).toBe("unknown");
    // The blockhash handed out before the restart is still known, valid for the same heights.
    expect(await reopened.lastValidBlockHeight(blockhash)).toBe(lastValidBlockHeight);
    expect(await reopened.isBlockhashValid(blockhash)).toBe(true);
    expect(await reopened.blockHeight()).toBeLessThanOrEqual(lastValidBlockHeight);
    // Its history by address, and what each transaction moved.
    expect((await reopened.signaturesForAddress(owner)).length).toBe(81);
    expect(await reopened.usdcDelta(first, owner)).toBe(4_200_000n);

    // The chain moving on is remembered too: expired before the restart, expired after.
    reopened.expireBlockhashes();
    const again = await restart(reopened);
    expect(await again.isBlockhashValid(blockhash)).toBe(false);
    expect(await again.blockHeight()).toBeGreaterThan(lastValidBlockHeight);
    // And a transaction is not processed twice across a restart.
    const fresh = await again.fund(owner, 5n, 0n);
    const after = await restart(again);
    expect(await after.getSignatureStatus(fresh)).toBe("confirmed");
    expect(await after.getUsdcBalance(owner)).toBe(4_200_085n);
    await after.close();
  });

  it("takes a snapshot every 500 transactions; a restart loads it and replays only the journal after it", async () => {
    const { readFile } = await import("node:fs/promises");
    const ledger = await LocalLedger.open(dir);
    const owner = Keypair.generate().publicKey;
    const signatures: string[] = [];
    for (let i = 0; i < 600; i += 1) signatures.push(await ledger.fund(owner, 1n, 0n));
    await ledger.close(); // waits for the snapshot being written
    const covered = Number((await readFile(path.join(dir, "snapshot.bin"))).readBigUInt64LE(0));
    const journalLines = (await readFile(path.join(dir, "journal.log"), "utf8")).trim().split("\n").length;
    expect(covered).toBeGreaterThan(500);
    expect(covered).toBeLessThan(journalLines);
    const reopened = await LocalLedger.open(dir);
    expect(await reopened.getUsdcBalance(owner)).toBe(600n);
    expect(new Set(await reopened.getSignatureStatuses(signatures))).toEqual(new Set(["confirmed"]));
    await reopened.close();
  });

  it("writes what each transaction changed, not the whole state; a line cut short by a crash is dropped", async () => {
    const { readFile, stat, appendFile } = await import("node:fs/promises");
    const ledger = await LocalLedger.open(dir);
    const owner = Keypair.generate().publicKey;
    await ledger.fund(owner, 1n, 0n);
    const snapshotBefore = await stat(path.join(dir, "snapshot.bin"));
    const journalBefore = (await stat(path.join(dir, "journal.log"))).size;
    for (let i = 0; i < 20; i += 1) await ledger.fund(owner, 1n, 0n);
    const perTransaction = ((await stat(path.join(dir, "journal.log"))).size - journalBefore) / 20;
    // A journal line is the transaction (a few hundred bytes) and a blockhash line; the state is ~1.4 MB.
    expect(perTransaction).toBeLessThan(2_000);
    expect(snapshotBefore.size).toBeGreaterThan(1_000_000);
    expect((await stat(path.join(dir, "snapshot.bin"))).mtimeMs).toBe(snapshotBefore.mtimeMs);

    await ledger.close();
    await appendFile(path.join(dir, "journal.log"), '{"k":"tx","sig":"cut-short","ok":tr');
    const reopened = await LocalLedger.open(dir);
    expect(await reopened.getUsdcBalance(owner)).toBe(21n);
    expect((await readFile(path.join(dir, "journal.log"), "utf8")).endsWith("\n")).toBe(true);
    await reopened.fund(owner, 1n, 0n);
    const last = await restart(reopened);
    expect(await last.getUsdcBalance(owner)).toBe(22n);
    await last.close();
  });

  it("reads each transaction's bytes back from its own journal line: written now, replayed, and after a cut-short line was dropped", async () => {
    const { appendFile } = await import("node:fs/promises");
    // The signature a transaction's bytes carry, and the USDC it moved: the line read back is that transaction's.
    const signatureOf = (ledger: LocalLedger, signature: string) =>
      toBase58(Transaction.from(Buffer.from(ledger.transaction(signature)!.raw, "base64")).signature!);
    const ledger = await LocalLedger.open(dir);
    const owner = Keypair.generate().publicKey;
    const before: string[] = [];
    for (let i = 1; i <= 5; i += 1) before.push(await ledger.fund(owner, BigInt(i), 0n));
    for (const [i, signature] of before.entries()) {
      expect(signatureOf(ledger, signature)).toBe(signature);
      expect(await ledger.usdcDelta(signature, owner)).toBe(BigInt(i + 1));
    }
    await ledger.close();
    await appendFile(path.join(dir, "journal.log"), '{"k":"bh","h":"cut-sh');
    const reopened = await LocalLedger.open(dir);
    // Lines written after the dropped tail sit where the tail was.
    const after: string[] = [];
    for (let i = 6; i <= 8; i += 1) after.push(await reopened.fund(owner, BigInt(i), 0n));
    for (const [i, signature] of [...before, ...after].entries()) {
      expect(signatureOf(reopened, signature)).toBe(signature);
      expect(await reopened.usdcDelta(signature, owner)).toBe(BigInt(i + 1));
    }
    const last = await restart(reopened);
    for (const [i, signature] of [...before, ...after].entries()) expect(await last.usdcDelta(signature, owner)).toBe(BigInt(i + 1));
    expect(last.transaction(toBase58(randomBytes(64)))).toBeNull();
    await last.close();
  });
});
