// GET /api/tdk/keys — list the caller's API keys with their wallets' balances
import { listApiKeysWithBalances } from "@/lib/keys/keys";
import { withSession } from "@/lib/http/handlers";
import { json } from "@/lib/http/response";

export const GET = withSession(async ({ app, session }) => {
  const keys = await listApiKeysWithBalances(app.db, app.ledger, session.account.id);
  return json({ keys });
});
