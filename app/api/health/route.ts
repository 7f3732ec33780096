// GET /api/health — is the gateway up, and which parts run embedded
import { withPublic } from "@/lib/http/handlers";
import { json } from "@/lib/http/response";

export const GET = withPublic(async ({ app }) => {
  const [database, ledger] = await Promise.all([
    app.db.ping().then(() => "ok" as const, () => "unreachable" as const),
    app.ledger.ping().then(() => "ok" as const, () => "unreachable" as const),
  ]);
  const ok = database === "ok" && ledger === "ok";
  return json(
    {
      status: ok ? "ok" : "degraded",
      database: { backend: app.db.kind, status: database },
      ledger: { backend: app.ledger.kind, status: ledger },
      rate_limiter: { backend: app.limiter.kind },
    },
    { status: ok ? 200 : 503 },
  );
});
