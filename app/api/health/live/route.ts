// GET /api/health/live — the process answers: no database, chain or network call (load balancers, uptime checks)
export const dynamic = "force-dynamic";

// Deliberately outside the wrappers and the services: this route must answer even when they cannot be built.
export const GET = (): Response => Response.json({ status: "ok" }, { headers: { "cache-control": "no-store" } });
