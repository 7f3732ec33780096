import {
  createAssociatedTokenAccountIdempotentInstruction,
  createCloseAccountInstruction,
  createTransferCheckedInstruction,
} from "@solana/spl-token";
import { SystemProgram, Transaction, type Keypair, type PublicKey } from "@solana/web3.js";
import type { Database } from "@/lib/db";
import {
  attachFundingSignature,
  type Funding,
  type FundingRefusal,
  type FundingRefusalCode,
  listPendingFundings,
  reserveFundings,
  resolveFundingRow,
} from "./funding-store";

export {
  type Funding,
  type FundingRefusal,
  type FundingRefusalCode,
  fundingRefusalCodes,
  fundingSchema,
  listFundings,
} from "./funding-store";
import type { MoneyPolicy } from "@/lib/money/policy";
import { toBase58 } from "./base58";
import { LAMPORTS_PER_SIGNATURE, LedgerError, type Ledger, type UsdcAccount, type WalletBalances } from "./ledger";
import { USDC_DECIMALS } from "@/lib/money/units";
import { landingOf } from "./landing";
import { nonceMemo } from "./memo";
import { associatedTokenAddress, signTransaction } from "./signing";

/**
 * The one funding path (DESIGN.md "Money safety"). Every movement between the treasury and a key's
 * wallet — first funding, top-up, SOL, and the sweep of a revoked wallet back — goes:
 *   1. reserve: one SQL function checks every cap and fixes the amounts (`pending`, no signature);
 *   2. build and sign the transaction for exactly those amounts (the treasury pays fees and rent);
 *   3. attach the signature to the reservations, before anything is sent;
 *   4. send, then resolve each funding from what the chain says.
 * A crash after 1 leaves an unsigned reservation (resolved failed: nothing could be sent); after 3
 * a signed one, resolved from the chain by signature and blockhash — never sent a second time.
 */

export type FundingStep = "reserved" | "signed" | "sent";

export interface FundingDeps {
  db: Database;
  ledger: Ledger;
  treasury: Keypair;
  policy: MoneyPolicy;
  /** Crash-injection seam for tests: runs after each step; throwing there stops as a crash would. */
  afterStep?: (step: FundingStep, fundings: Funding[]) => void | Promise<void>;
}

/** A wallet that needs money: what it asks for; the caps decide what it gets. */
export interface FundingTarget {
  keyId: string;
  wallet: PublicKey;
  reason: "initial" | "topup";
  usdcMicro: bigint;
  solLamports: bigint;
  /** Whether its USDC account exists: creating it costs the treasury the account's rent. */
  usdcAccountExists: boolean;
}

/** A revoked key's wallet to empty back into the treasury (its secret, decrypted for this). */
export interface SweepTarget {
  keyId: string;
  wallet: Keypair;
  usdc: UsdcAccount;
  solLamports: bigint;
}

export interface FundingOutcome {
  fundings: Funding[];
  refused: FundingRefusal[];
  /** Why the transaction did not go through, if it did not (fundings then failed or pending). */
  error: string | null;
}

/** Sends USDC and SOL to wallets, as much as the caps allow, in one transaction. */
export async function fundWallets(deps: FundingDeps, targets: FundingTarget[]): Promise<FundingOutcome> {
  if (targets.length === 0) return { fundings: [], refused: [], error: null };
  const rent = targets.some((target) => !target.usdcAccountExists) ? await deps.ledger.tokenAccountRentLamports() : 0n;
  const reservation = await reserve(
    deps,
    targets.map((target) => ({
      api_key_id: target.keyId,
      reason: target.reason,
      usdc_micro: target.usdcMicro.toString(),
      sol_lamports: target.solLamports.toString(),
      rent_lamports: (target.usdcAccountExists ? 0n : rent).toString(),
      fee_lamports: LAMPORTS_PER_SIGNATURE.toString(),
    })),
  );
  const byKey = new Map(targets.map((target) => [target.keyId, target]));
  return execute(deps, reservation, async (fundings) => {
    const mint = deps.ledger.usdcMint;
    const treasuryAta = associatedTokenAddress(mint, deps.treasury.publicKey);
    const tx = await newTransaction(deps);
    for (const funding of fundings) {
      const wallet = byKey.get(funding.api_key_id)!.wallet;
      if (funding.usdc_micro > 0) {
        const walletAta = associatedTokenAddress(mint, wallet);
        tx.add(
          createAssociatedTokenAccountIdempotentInstruction(deps.treasury.publicKey, walletAta, wallet, mint),
          createTransferCheckedInstruction(
            treasuryAta,
            mint,
            walletAta,
            deps.treasury.publicKey,
            BigInt(funding.usdc_micro),
            USDC_DECIMALS,
          ),
        );
      }
      if (funding.sol_lamports > 0) {
        tx.add(SystemProgram.transfer({ fromPubkey: deps.treasury.publicKey, toPubkey: wallet, lamports: BigInt(funding.sol_lamports) }));
      }
    }
    tx.add(nonceMemo("tdk-funding"));
    signTransaction(tx, deps.treasury);
    // One signature, the treasury's: the first funding carries the fee; each keeps the rent it reserved.
    return { tx, overheads: fundings.map((funding, i) => BigInt(funding.overhead_lamports) - (i === 0 ? 0n : LAMPORTS_PER_SIGNATURE)) };
  });
}

/**
 * Empties revoked keys' wallets into the treasury in one transaction: all USDC moved back, the USDC
 * account closed (its rent comes back too), every lamport of SOL returned. The treasury pays the fee.
 */
export async function sweepWallets(deps: FundingDeps, targets: SweepTarget[]): Promise<FundingOutcome> {
  if (targets.length === 0) return { fundings: [], refused: [], error: null };
  const reservation = await reserve(
    deps,
    targets.map((target) => ({
      api_key_id: target.keyId,
      reason: "sweep",
      usdc_micro: target.usdc.amount.toString(),
      sol_lamports: (target.solLamports + target.usdc.lamports).toString(),
      rent_lamports: "0",
      // Its own signature, and the treasury's (carried by the first sweep of the transaction).
      fee_lamports: (2n * LAMPORTS_PER_SIGNATURE).toString(),
    })),
  );
  const byKey = new Map(targets.map((target) => [target.keyId, target]));
  return execute(deps, reservation, async (fundings) => {
    const mint = deps.ledger.usdcMint;
    const treasury = deps.treasury.publicKey;
    const treasuryAta = associatedTokenAddress(mint, treasury);
    const tx = await newTransaction(deps);
    const signers: Keypair[] = [deps.treasury];
    for (const funding of fundings) {
      const target = byKey.get(funding.api_key_id)!;
      const wallet = target.wallet.publicKey;
      if (target.usdc.exists) {
        const walletAta = associatedTokenAddress(mint, wallet);
        if (target.usdc.amount > 0n) {
          tx.add(createTransferCheckedInstruction(walletAta, mint, treasuryAta, wallet, target.usdc.amount, USDC_DECIMALS));
        }
        tx.add(createCloseAccountInstruction(walletAta, treasury, wallet));
      }
      if (target.solLamports > 0n) tx.add(SystemProgram.transfer({ fromPubkey: wallet, toPubkey: treasury, lamports: target.solLamports }));
      signers.push(target.wallet);
    }
    tx.add(nonceMemo("tdk-sweep"));
    signTransaction(tx, ...signers);
    return { tx, overheads: fundings.map((_, i) => (i === 0 ? 2n : 1n) * LAMPORTS_PER_SIGNATURE) };
  });
}

function reserve(deps: FundingDeps, items: Record<string, string>[]) {
  return reserveFundings(deps.db, items, deps.policy);
}

async function newTransaction(deps: FundingDeps): Promise<Transaction> {
  const { blockhash, lastValidBlockHeight } = await deps.ledger.latestBlockhash();
  return new Transaction({ feePayer: deps.treasury.publicKey, blockhash, lastValidBlockHeight });
}

/** Steps 2–4 for reserved fundings: build and sign, attach the signature, send, resolve. */
async function execute(
  deps: FundingDeps,
  reservation: { fundings: Funding[]; refused: FundingRefusal[] },
  build: (fundings: Funding[]) => Promise<{ tx: Transaction; overheads: bigint[] }>,
): Promise<FundingOutcome> {
  const { refused } = reservation;
  let fundings = reservation.fundings;
  if (fundings.length === 0) return { fundings, refused, error: null };
  await deps.afterStep?.("reserved", fundings);

  let built: { tx: Transaction; overheads: bigint[] };
  try {
    built = await build(fundings);
  } catch (error) {
    // Nothing was signed: the reservations are released.
    const message = `Could not build the transaction: ${(error as Error).message}`.slice(0, 500);
    fundings = await Promise.all(fundings.map((funding) => resolveFunding(deps.db, funding.id, "failed", message)));
    return { fundings, refused, error: message };
  }
  const { tx, overheads } = built;
  const signature = toBase58(tx.signature!);
  const attached = await attachFundingSignature(deps.db, {
    fundings: fundings.map((funding, i) => ({ id: funding.id, overheadLamports: overheads[i]! })),
    signature,
    recentBlockhash: tx.recentBlockhash!,
    lastValidBlockHeight: tx.lastValidBlockHeight!,
  });
  if (attached !== fundings.length) {
    // Some reservation was resolved meanwhile (an unsigned one is failed by the cron after a
    // minute): the transaction is not sent. An attached one stays pending and is resolved from the
    // chain, where it never lands.
    return { fundings, refused, error: "The funding reservations expired before the transaction was signed; nothing was sent." };
  }
  fundings = fundings.map((funding) => ({
    ...funding,
    tx_signature: signature,
    recent_blockhash: tx.recentBlockhash!,
    last_valid_block_height: tx.lastValidBlockHeight!,
  }));
  await deps.afterStep?.("signed", fundings);

  try {
    await deps.ledger.sendTransaction(tx);
  } catch (error) {
    if (error instanceof LedgerError && error.outcome === "rejected") {
      const message = error.message.slice(0, 500);
      fundings = await Promise.all(fundings.map((funding) => resolveFunding(deps.db, funding.id, "failed", message)));
      return { fundings, refused, error: message };
    }
    // Outcome unknown: the fundings stay pending and are resolved from the chain later.
    return { fundings, refused, error: (error as Error).message };
  }
  await deps.afterStep?.("sent", fundings);
  fundings = await Promise.all(fundings.map((funding) => resolveFunding(deps.db, funding.id, "confirmed", null)));
  return { fundings, refused, error: null };
}

export async function resolveFunding(
  db: Database,
  fundingId: string,
  status: "confirmed" | "failed",
  error: string | null,
): Promise<Funding> {
  const result = await resolveFundingRow(db, fundingId, status, error);
  if (!result.funding) throw new Error(`Cannot resolve funding ${fundingId}: ${result.code}`);
  return result.funding;
}

/** A reservation never signed after this long can no longer be sent by anyone: it is released. */
export const UNSIGNED_FUNDING_TTL_MS = 60_000;

/**
 * Resolves pending fundings from the chain, never by sending again: confirmed when the signature
 * landed, failed when it failed or provably can no longer land (`landingOf`), or when the
 * reservation was never signed. Returns how many changed.
 */
export async function resolvePendingFundings(
  db: Database,
  ledger: Ledger,
  olderThan: Date,
  options: { unsignedTtlMs?: number } = {},
): Promise<number> {
  const pending = await listPendingFundings(db, olderThan);
  let resolved = 0;
  for (const funding of pending) {
    if (!funding.tx_signature) {
      if (Date.now() - Date.parse(funding.created_at) < (options.unsignedTtlMs ?? UNSIGNED_FUNDING_TTL_MS)) continue;
      await resolveFunding(db, funding.id, "failed", "Reserved but never signed; nothing was sent");
      resolved += 1;
      continue;
    }
    const landing = await landingOf(ledger, { signature: funding.tx_signature, lastValidBlockHeight: funding.last_valid_block_height });
    if (landing === "unknown") continue;
    await resolveFunding(
      db,
      funding.id,
      landing === "landed" ? "confirmed" : "failed",
      landing === "landed" ? null : "Transaction did not land",
    );
    resolved += 1;
  }
  return resolved;
}

/** What a wallet needs to get back to the targets, from its balances on the chain. */
/** What a wallet lacks against the targets, from its balances (read one by one or in batches). */
export function walletNeed({ usdc, solLamports: sol }: WalletBalances, targets: { usdcMicro: bigint; solLamports: bigint }) {
  return {
    usdc,
    sol,
    usdcMicro: usdc.amount < targets.usdcMicro ? targets.usdcMicro - usdc.amount : 0n,
    // SOL is refilled when under half its target: it pays the wallet's transaction fees.
    solLamports: sol < targets.solLamports / 2n ? targets.solLamports - sol : 0n,
  };
}

/** Refills one key's wallet to the targets, within the caps (the call path, when a call cannot be covered). */
export async function topUpWallet(
  deps: FundingDeps,
  key: { id: string; wallet: PublicKey },
  targets: { usdcMicro: bigint; solLamports: bigint },
): Promise<{ ok: true; funding: Funding } | { ok: false; code: FundingRefusalCode | "send_failed" }> {
  const [balances] = await deps.ledger.getWalletBalances([key.wallet]);
  const need = walletNeed(balances!, targets);
  if (need.usdcMicro === 0n && need.solLamports === 0n) return { ok: false, code: "not_needed" };
  const outcome = await fundWallets(deps, [
    {
      keyId: key.id,
      wallet: key.wallet,
      reason: "topup",
      usdcMicro: need.usdcMicro,
      solLamports: need.solLamports,
      usdcAccountExists: need.usdc.exists,
    },
  ]);
  if (outcome.refused[0]) return { ok: false, code: outcome.refused[0].code };
  const funding = outcome.fundings[0];
  return funding?.status === "confirmed" ? { ok: true, funding } : { ok: false, code: "send_failed" };
}
