"use server";

import { cookies, headers } from "next/headers";
import { revalidatePath } from "next/cache";
import { redirect } from "next/navigation";
import { logIn, registerAccount } from "@/lib/auth/accounts";
import { clearedSessionCookie, sessionCookie } from "@/lib/auth/cookie";
import { authLimits } from "@/lib/auth/limits";
import { getPageSession } from "@/lib/auth/page-session";
import { loginSchema, registerSchema } from "@/lib/auth/schemas";
import { revokeSession, SESSION_COOKIE } from "@/lib/auth/sessions";
import { getAppContext } from "@/lib/context";
import { fieldErrors, type FieldErrors } from "@/lib/http/errors";
import { clientIp } from "@/lib/http/request";
import { keyDeps } from "@/lib/keys/deps";
import { createApiKey, revokeApiKey, type KeyView } from "@/lib/keys/keys";
import { createKeySchema, keyIdSchema } from "@/lib/keys/schemas";
import { checkoutSchema, createCheckoutSession } from "@/lib/billing/checkout";
import type { RateLimitPolicy } from "@/lib/ratelimit/types";

/**
 * The web pages' forms. Server actions work without client-side JavaScript, and Next.js refuses
 * a server action whose Origin is not this site. They call the same domain functions as the JSON
 * endpoints, with the same schemas and rate limits.
 */

export interface FormState {
  error?: string;
  fields?: FieldErrors;
  email?: string;
}

async function withinLimit(policy: RateLimitPolicy, identifier: string): Promise<boolean> {
  const app = await getAppContext();
  return (await app.limiter.limit(policy, identifier)).success;
}

const TOO_MANY = "Too many attempts. Wait a few minutes and try again.";

/**
 * The credentials of a sign-up or log-in form, through the same limits and schema as the JSON
 * endpoint: per IP first (every attempt counts), then per email. A form state when refused.
 */
async function readCredentials(
  form: FormData,
  schema: typeof registerSchema | typeof loginSchema,
  limits: { perIp: RateLimitPolicy; perEmail: RateLimitPolicy },
): Promise<{ ok: true; email: string; password: string } | { ok: false; state: FormState }> {
  const input = { email: String(form.get("email") ?? ""), password: String(form.get("password") ?? "") };
  const refuse = (state: Omit<FormState, "email">) => ({ ok: false as const, state: { ...state, email: input.email } });
  if (!(await withinLimit(limits.perIp, clientIp(await headers())))) return refuse({ error: TOO_MANY });
  const parsed = schema.safeParse(input);
  if (!parsed.success) return refuse({ error: "Please correct the fields below.", fields: fieldErrors(parsed.error) });
  if (!(await withinLimit(limits.perEmail, parsed.data.email))) return refuse({ error: TOO_MANY });
  return { ok: true, ...parsed.data };
}

export async function signUpAction(_previous: FormState | null, form: FormData): Promise<FormState> {
  const credentials = await readCredentials(form, registerSchema, { perIp: authLimits.registerPerIp, perEmail: authLimits.registerPerEmail });
  if (!credentials.ok) return credentials.state;
  const app = await getAppContext();
  const result = await registerAccount(app.db, credentials.email, credentials.password);
  if (!result.ok) return { error: "An account with this email already exists. Log in instead.", email: credentials.email };
  redirect(`/login?registered=1&email=${encodeURIComponent(credentials.email)}`);
}

export async function logInAction(_previous: FormState | null, form: FormData): Promise<FormState> {
  const credentials = await readCredentials(form, loginSchema, { perIp: authLimits.loginPerIp, perEmail: authLimits.loginPerEmail });
  if (!credentials.ok) return credentials.state;
  const app = await getAppContext();
  const result = await logIn(app.db, credentials.email, credentials.password, app.env.sessionTtlMs);
  if (!result.ok) return { error: "Email or password is incorrect.", email: credentials.email };
  (await cookies()).set(sessionCookie(result.token, result.expiresAt));
  redirect("/dashboard");
}

export async function logOutAction(): Promise<void> {
  const jar = await cookies();
  const token = jar.get(SESSION_COOKIE)?.value;
  if (token) await revokeSession((await getAppContext()).db, token);
  jar.set(clearedSessionCookie());
  redirect("/login");
}

export type CreateKeyState =
  | { ok: true; apiKey: string; key: KeyView }
  | { ok: false; error: string; fields?: FieldErrors }
  | null;

export async function createKeyAction(_previous: CreateKeyState, form: FormData): Promise<CreateKeyState> {
  const session = await getPageSession();
  if (!session) redirect("/login");
  const name = String(form.get("name") ?? "").trim();
  const parsed = createKeySchema.safeParse(name ? { name } : {});
  if (!parsed.success) return { ok: false, error: "Please correct the name.", fields: fieldErrors(parsed.error) };

  const app = await getAppContext();
  const result = await createApiKey(await keyDeps(app), session.account.id, parsed.data.name);
  if (!result.ok) {
    return { ok: false, error: result.code === "key_limit_reached" ? `You can hold at most ${result.limit} active keys. Revoke one first.` : "Log in again." };
  }
  revalidatePath("/keys");
  revalidatePath("/dashboard");
  return { ok: true, apiKey: result.apiKey, key: result.key };
}

/** The upgrade button: a Stripe Checkout session for a metered subscription, then off to Stripe. */
export async function upgradeAction(form: FormData): Promise<void> {
  const session = await getPageSession();
  if (!session) redirect("/login");
  const app = await getAppContext();
  const tier = checkoutSchema.safeParse({ tier: form.get("tier") ?? undefined });
  if (!app.stripe || !app.env.stripe || !tier.success) redirect("/keys?billing=unavailable");
  const origin = (await headers()).get("origin");
  const result = await createCheckoutSession(
    { db: app.db, stripe: app.stripe, prices: app.env.stripe.prices, appUrl: app.env.appUrl ?? origin ?? "http://localhost:3000" },
    session.account.id,
    tier.data.tier,
  );
  redirect(result.ok ? result.url : `/keys?billing=${result.code}`);
}

export async function revokeKeyAction(form: FormData): Promise<void> {
  const session = await getPageSession();
  if (!session) redirect("/login");
  const id = keyIdSchema.safeParse(form.get("key_id"));
  if (id.success) await revokeApiKey((await getAppContext()).db, session.account.id, id.data);
  revalidatePath("/keys");
}
