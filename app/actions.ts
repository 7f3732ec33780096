"use server";

import { cookies, headers } from "next/headers";
import { revalidatePath } from "next/cache";
import { redirect } from "next/navigation";
import { logIn, registerAccount } from "@/lib/auth/accounts";
import { clearedSessionCookie, sessionCookie } from "@/lib/auth/cookie";
import { authLimits } from "@/lib/ratelimit/policies";
import { getPageSession } from "@/lib/http/page-session";
import { loginSchema, registerSchema } from "@/lib/auth/schemas";
import { revokeSession, SESSION_COOKIE } from "@/lib/auth/sessions";
import { getAppContext } from "@/lib/context";
import { fieldErrors, type FieldErrors } from "@/lib/http/errors";
import { clientIp } from "@/lib/http/request";
import { keyDeps } from "@/lib/keys/deps";
import { createApiKey, revokeApiKey, setKeySpendLimit, type InitialFunding, type KeyView } from "@/lib/keys/keys";
import { createKeySchema, keyIdSchema, updateKeySchema } from "@/lib/keys/schemas";
import { createCardSetupSession } from "@/lib/billing/card";
import { changePlan, checkoutSchema } from "@/lib/billing/checkout";
import { createPortalSession } from "@/lib/billing/portal";
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
  const { env } = await getAppContext();
  if (!(await withinLimit(limits.perIp, clientIp(await headers(), env.trustedProxyHops)))) return refuse({ error: TOO_MANY });
  const parsed = schema.safeParse(input);
  if (!parsed.success) return refuse({ error: "Please correct the fields below.", fields: fieldErrors(parsed.error) });
  if (!(await withinLimit(limits.perEmail, parsed.data.email))) return refuse({ error: TOO_MANY });
  return { ok: true, ...parsed.data };
}

export async function signUpAction(_previous: FormState | null, form: FormData): Promise<FormState> {
  const credentials = await readCredentials(form, registerSchema, {
    perIp: authLimits.registerPerIp,
    perEmail: authLimits.registerPerEmail,
  });
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
  | { ok: true; apiKey: string; key: KeyView; funding: InitialFunding }
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
    const errors: Record<(typeof result)["code"], string> = {
      key_limit_reached: `You can hold at most ${"limit" in result ? result.limit : ""} active keys. Revoke one first.`,
      key_daily_limit_reached: `You can create at most ${"limit" in result ? result.limit : ""} keys a day. Try again tomorrow (UTC).`,
      account_suspended: "Your account is suspended for an unpaid invoice: pay it in the billing portal to create keys again.",
      account_not_found: "Log in again.",
    };
    return { ok: false, error: errors[result.code] };
  }
  revalidatePath("/keys");
  revalidatePath("/dashboard");
  return { ok: true, apiKey: result.apiKey, key: result.key, funding: result.funding };
}

/** The upgrade button: Stripe Checkout for a new subscription, or a price change on the one the account has. */
export async function upgradeAction(form: FormData): Promise<void> {
  const session = await getPageSession();
  if (!session) redirect("/login");
  const app = await getAppContext();
  const tier = checkoutSchema.safeParse({ tier: form.get("tier") ?? undefined });
  if (!app.stripe || !app.env.stripe || !tier.success) redirect("/keys?billing=unavailable");
  const result = await changePlan(
    { db: app.db, stripe: app.stripe, prices: app.env.stripe.prices, appUrl: await pageOrigin() },
    session.account.id,
    tier.data.tier,
  );
  if (!result.ok) redirect(`/keys?billing=${result.code}`);
  revalidatePath("/dashboard");
  redirect(result.action === "checkout" ? result.url : `/dashboard?plan=${result.tier}`);
}

/** Verify a card for the free tier: off to Stripe Checkout in setup mode (nothing is charged). */
export async function verifyCardAction(): Promise<void> {
  const session = await getPageSession();
  if (!session) redirect("/login");
  const app = await getAppContext();
  if (!app.stripe) redirect("/dashboard");
  const result = await createCardSetupSession({ db: app.db, stripe: app.stripe, appUrl: await pageOrigin() }, session.account.id);
  redirect(result.ok ? result.url : "/login");
}

/** Manage billing (cancel, change the card, invoices) in Stripe's Billing Portal. */
export async function billingPortalAction(): Promise<void> {
  const session = await getPageSession();
  if (!session) redirect("/login");
  const app = await getAppContext();
  if (!app.stripe) redirect("/dashboard?billing=unavailable");
  const result = await createPortalSession({ db: app.db, stripe: app.stripe, appUrl: await pageOrigin() }, session.account.id);
  redirect(result.ok ? result.url : "/login");
}

export type SpendLimitState = { ok: true; keyId: string } | { ok: false; keyId: string; error: string } | null;

/** The keys page's spend-limit form: the same schema and domain function as PATCH /api/tdk/keys/{id}. */
export async function setSpendLimitAction(_previous: SpendLimitState, form: FormData): Promise<SpendLimitState> {
  const session = await getPageSession();
  if (!session) redirect("/login");
  const keyId = keyIdSchema.safeParse(form.get("key_id"));
  if (!keyId.success) return { ok: false, keyId: "", error: "Unknown key." };
  const amount = String(form.get("spend_limit_usd") ?? "").trim();
  const parsed = updateKeySchema.safeParse(
    amount === ""
      ? { spend_limit_usd: null }
      : { spend_limit_usd: amount, spend_limit_period: String(form.get("spend_limit_period") ?? "") },
  );
  if (!parsed.success) return { ok: false, keyId: keyId.data, error: Object.values(fieldErrors(parsed.error)).flat().join(" ") };
  const result = await setKeySpendLimit((await getAppContext()).db, session.account.id, keyId.data, parsed.data);
  if (!result.ok) return { ok: false, keyId: keyId.data, error: result.code === "key_revoked" ? "This key is revoked." : "Unknown key." };
  revalidatePath("/keys");
  return { ok: true, keyId: keyId.data };
}

/** The origin the browser is on, for Stripe's return URLs. */
async function pageOrigin(): Promise<string> {
  const app = await getAppContext();
  return app.env.appUrl ?? (await headers()).get("origin") ?? "http://localhost:3000";
}

export async function revokeKeyAction(form: FormData): Promise<void> {
  const session = await getPageSession();
  if (!session) redirect("/login");
  const id = keyIdSchema.safeParse(form.get("key_id"));
  if (id.success) await revokeApiKey((await getAppContext()).db, session.account.id, id.data);
  revalidatePath("/keys");
}
