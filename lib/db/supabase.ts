import { createClient, type SupabaseClient } from "@supabase/supabase-js";
import WebSocket from "ws";
import { DatabaseError, assertIdentifier, toJsonArg, type Database, type DbArgs } from "./types";

/**
 * Supabase through supabase-js with the service role key: every call is `.rpc(fn, args)`, i.e.
 * PostgREST's `POST /rest/v1/rpc/<fn>`. supabase-js cannot run multi-statement transactions,
 * which is why every state change is one SQL function. Migrations are applied with the
 * Supabase CLI (`supabase db push`), not at start.
 */
export class SupabaseDatabase implements Database {
  readonly kind = "supabase" as const;
  private readonly client: SupabaseClient;

  constructor(url: string, serviceRoleKey: string, fetchImpl?: typeof fetch) {
    this.client = createClient(url, serviceRoleKey, {
      auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false },
      global: fetchImpl ? { fetch: fetchImpl } : undefined,
      // Realtime is never used, but supabase-js builds its client eagerly and Node 20 has no
      // global WebSocket; `ws` satisfies it.
      realtime: { transport: WebSocket as never },
    });
  }

  async call(fn: string, args: DbArgs): Promise<unknown> {
    const body = Object.fromEntries(Object.entries(args).map(([name, value]) => [assertIdentifier(name), toJsonArg(value)]));
    const { data, error } = await this.client.rpc(assertIdentifier(fn), body);
    if (error) throw new DatabaseError(`Database function ${fn} failed: ${error.message}`, fn, error);
    return data ?? null;
  }

  async ping(): Promise<void> {
    // A read-only function every schema version has.
    await this.call("tdk_get_treasury", {});
  }

  async close(): Promise<void> {}
}
