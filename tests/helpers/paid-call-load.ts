// A gateway process on the embedded defaults, for crash tests (run by tests/calls/kill-recovery.test.ts
// with tsx; a test tool, not production code). TDK_DATA_DIR holds its database and ledger.
//
//   load     — creates four pro keys on first run (kept in $TDK_DATA_DIR/keys.json), then calls
//              agents through POST /api/tdk/v1/call, eight at a time, until it is killed;
//              prints "ready" once calling, and "calls N" after each call
//   recover  — what the crons do after a restart, once the chain has moved past every payment
//              in flight: resolves pending fundings and calls; prints a JSON summary
import { existsSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { NextRequest } from "next/server";
import { z } from "zod";
import { POST as callRoute } from "@/app/api/tdk/v1/call/route";
import { registerAccount } from "@/lib/auth/accounts";
import { recoverPendingCalls } from "@/lib/calls/recovery";
import { getAppContext } from "@/lib/context";
import { callFunction } from "@/lib/db";
import { createApiKey } from "@/lib/keys/keys";
import { moneyPolicy } from "@/lib/money/policy";
import { resolvePendingFundings } from "@/lib/solana/funding";
import type { LocalLedger } from "@/lib/solana/local-ledger";
import { servicesFor } from "@/lib/services";

async function keys(): Promise<string[]> {
  const file = path.join(process.env.TDK_DATA_DIR!, "keys.json");
  if (existsSync(file)) return JSON.parse(await readFile(file, "utf8")) as string[];
  const app = await getAppContext();
  const created: string[] = [];
  for (let i = 0; i < 4; i += 1) {
    const account = await registerAccount(app.db, `load-${i}-${Date.now()}@example.com`, "load-password-42");
    if (!account.ok) throw new Error(account.code);
    await callFunction(app.db, "tdk_set_account_tier", { p_account_id: account.account.id, p_tier: "pro" }, z.unknown());
    const key = await createApiKey(await servicesFor(app).keys.deps(), account.account.id, `load ${i}`);
    if (!key.ok) throw new Error(key.code);
    created.push(key.apiKey);
  }
  await writeFile(file, JSON.stringify(created), { mode: 0o600 });
  return created;
}

async function load() {
  const apiKeys = await keys();
  let calls = 0;
  const bodies = [
    (i: number) => ({ agent_id: "warmmemory", input: { action: "store", key: `k${i}`, value: "v" } }),
    (i: number) => ({ agent_id: "textstats", input: { text: `call ${i}` } }),
  ];
  console.log("ready");
  await Promise.all(
    Array.from({ length: 8 }, async (_, worker) => {
      for (let i = 0; ; i += 1) {
        const request = new NextRequest("http://localhost/api/tdk/v1/call", {
          method: "POST",
          headers: {
            authorization: `Bearer ${apiKeys[worker % apiKeys.length]}`,
            "content-type": "application/json",
            "x-forwarded-for": "127.0.0.1",
          },
          body: JSON.stringify(bodies[i % bodies.length]!(i)),
        });
        const response = await callRoute(request, { params: Promise.resolve({}) });
        await response.text();
        calls += 1;
        console.log(`calls ${calls}`);
      }
    }),
  );
}

async function recover() {
  const app = await getAppContext();
  // The chain moves on past every blockhash handed out before the crash (as time would).
  (app.ledger as LocalLedger).expireBlockhashes();
  const fundings = await resolvePendingFundings(app.db, app.ledger, new Date(), { unsignedTtlMs: 0 });
  const calls = await recoverPendingCalls(
    { db: app.db, ledger: app.ledger, policy: moneyPolicy(app.env) },
    { olderThan: new Date(Date.now() + 1_000), limit: 100_000 },
  );
  await (app.ledger as LocalLedger).close();
  await app.db.close();
  console.log(JSON.stringify({ fundings, ...calls }));
}

const mode = process.argv[2];
(mode === "load" ? load() : mode === "recover" ? recover() : Promise.reject(new Error(`unknown mode ${mode}`))).then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error instanceof Error ? error.stack : error);
    process.exit(1);
  },
);
