"use server";

import { cookies, headers } from "next/headers";
import { revalidatePath } from "next/cache";
import { redirect } from "next/navigation";
import { clearedSessionCookie, sessionCookie } from "@/lib/auth/cookie";
import { loginSchema, registerSchema } from "@/lib/auth/schemas";
import { SESSION_COOKIE } from "@/lib/auth/sessions";
import { checkoutSchema } from "@/lib/billing/checkout";
import { ApiError, fieldErrors, type FieldErrors } from "@/lib/http/errors";
import { refusalMessage, withPageSession } from "@/lib/http/page-session";
import { clientIp } from "@/lib/http/request";
import type { InitialFunding } from "@/lib/keys/keys";
import { createKeySchema, keyIdSchema, updateKeySchema, type KeyView } from "@/lib/keys/schemas";
import { authLimits } from "@/lib/ratelimit/policies";
import type { RateLimitPolicy } from "@/lib/ratelimit/types";
import { getServices, type Services } from "@/lib/services";

/**
 * The web pages' forms. Server actions work without client-side JavaScript, and Next.js refuses
 * a server action whose Origin is not this site. They call the same services as the JSON
 * endpoints, with the same schemas and rate limits, and show the services' refusals as they word them.
 */

export interface FormState {
  error?: string;
  fields?: FieldErrors;
  email?: string;
}

const TOO_MANY = "Too many attempts. Wait a few minutes and try again.";

/** Whether the rate limit lets this attempt through (a form shows a message rather than a 429). */
async function withinLimit(services: Services, policy: RateLimitPolicy, identifier: string): Promise<boolean> {
  try {
    await services.limits.enforce(policy, identifier);
    return true;
  } catch (error) {
    if (error instanceof ApiError && error.code === "rate_limited") return false;
    throw error;
  }
}

/**
 * The credentials of a sign-up or log-in form, through the same limits and schema as the JSON
 * endpoint: per IP first (every attempt counts), then per email. A form state when refused.
 */
async function readCredentials(
  services: Services,
  form: FormData,
  schema: typeof registerSchema | typeof loginSchema,
  limits: { perIp: RateLimitPolicy; perEmail: RateLimitPolicy },
): Promise<{ ok: true; email: string; password: string } | { ok: false; state: FormState }> {
  const input = { email: String(form.get("email") ?? ""), password: String(form.get("password") ?? "") };
  const refuse = (state: Omit<FormState, "email">) => ({ ok: false as const, state: { ...state, email: input.email } });
  const ip = clientIp(await headers(), services.app.env.trustedProxyHops);
  if (!(await withinLimit(services, limits.perIp, ip))) return refuse({ error: TOO_MANY });
  const parsed = schema.safeParse(input);
  if (!parsed.success) return refuse({ error: "Please correct the fields below.", fields: fieldErrors(parsed.error) });
  if (!(await withinLimit(services, limits.perEmail, parsed.data.email))) return refuse({ error: TOO_MANY });
  return { ok: true, ...parsed.data };
}

export async function signUpAction(_previous: FormState | null, form: FormData): Promise<FormState> {
  const services = await getServices();
  const credentials = await readCredentials(services, form, registerSchema, {
    perIp: authLimits.registerPerIp,
    perEmail: authLimits.registerPerEmail,
  });
  if (!credentials.ok) return credentials.state;
  try {
    await services.accounts.register(credentials.email, credentials.password);
  } catch (error) {
    return { error: refusalMessage(error), email: credentials.email };
  }
  redirect(`/login?registered=1&email=${encodeURIComponent(credentials.email)}`);
}

export async function logInAction(_previous: FormState | null, form: FormData): Promise<FormState> {
  const services = await getServices();
  const credentials = await readCredentials(services, form, loginSchema, {
    perIp: authLimits.loginPerIp,
    perEmail: authLimits.loginPerEmail,
  });
  if (!credentials.ok) return credentials.state;
  let session: { token: string; expiresAt: Date };
  try {
    session = await services.accounts.logIn(credentials.email, credentials.password);
  } catch (error) {
    return { error: refusalMessage(error), email: credentials.email };
  }
  (await cookies()).set(sessionCookie(session.token, session.expiresAt));
  redirect("/dashboard");
}

export async function logOutAction(): Promise<void> {
  const jar = await cookies();
  const token = jar.get(SESSION_COOKIE)?.value;
  if (token) await (await getServices()).accounts.logOut(token);
  jar.set(clearedSessionCookie());
  redirect("/login");
}

export type CreateKeyState =
  | { ok: true; apiKey: string; key: KeyView; funding: InitialFunding }
  | { ok: false; error: string; fields?: FieldErrors }
  | null;

export const createKeyAction = withPageSession(
  async ({ session, services }, _previous: CreateKeyState, form: FormData): Promise<CreateKeyState> => {
    const name = String(form.get("name") ?? "").trim();
    const parsed = createKeySchema.safeParse(name ? { name } : {});
    if (!parsed.success) return { ok: false, error: "Please correct the name.", fields: fieldErrors(parsed.error) };
    try {
      const created = await services.keys.create(session.account.id, parsed.data.name);
      revalidatePath("/keys");
      revalidatePath("/dashboard");
      return { ok: true, apiKey: created.apiKey, key: created.key, funding: created.funding };
    } catch (error) {
      return { ok: false, error: refusalMessage(error) };
    }
  },
);

/** The origin the browser is on, for Stripe's return URLs. */
async function pageOrigin(services: Services): Promise<string> {
  return services.app.env.appUrl ?? (await headers()).get("origin") ?? "http://localhost:3000";
}

/**
 * Sends the browser where `next` says (a Stripe page, or back to ours), or, when the billing service
 * refuses, back to the keys page with the refusal's code for its notice.
 */
async function redirectAfterBilling(next: () => Promise<string>): Promise<never> {
  let target: string;
  try {
    target = await next();
  } catch (error) {
    if (!(error instanceof ApiError)) throw error;
    target = error.code === "unauthorized" ? "/login" : `/keys?billing=${error.code}`;
  }
  redirect(target);
}

/** The upgrade button: Stripe Checkout for a new subscription, or a price change on the one the account has. */
export const upgradeAction = withPageSession(async ({ session, services }, form: FormData): Promise<void> => {
  const tier = checkoutSchema.safeParse({ tier: form.get("tier") ?? undefined });
  if (!services.billing.enabled || !tier.success) redirect("/keys?billing=unavailable");
  await redirectAfterBilling(async () => {
    const result = await services.billing.changePlan(session.account.id, tier.data.tier, await pageOrigin(services));
    revalidatePath("/dashboard");
    return result.action === "checkout" ? result.url : `/dashboard?plan=${result.tier}`;
  });
});

/** Verify a card for the free tier: off to Stripe Checkout in setup mode (nothing is charged). */
export const verifyCardAction = withPageSession(async ({ session, services }): Promise<void> => {
  if (!services.billing.enabled) redirect("/dashboard");
  await redirectAfterBilling(async () => services.billing.cardSetup(session.account.id, await pageOrigin(services)));
});

/** Manage billing (cancel, change the card, invoices) in Stripe's Billing Portal. */
export const billingPortalAction = withPageSession(async ({ session, services }): Promise<void> => {
  if (!services.billing.enabled) redirect("/dashboard?billing=unavailable");
  await redirectAfterBilling(async () => services.billing.portal(session.account.id, await pageOrigin(services)));
});

export type SpendLimitState = { ok: true; keyId: string } | { ok: false; keyId: string; error: string } | null;

/** The keys page's spend-limit form: the same schema and service as PATCH /api/tdk/keys/{id}. */
export const setSpendLimitAction = withPageSession(
  async ({ session, services }, _previous: SpendLimitState, form: FormData): Promise<SpendLimitState> => {
    const keyId = keyIdSchema.safeParse(form.get("key_id"));
    if (!keyId.success) return { ok: false, keyId: "", error: "No such key." };
    const amount = String(form.get("spend_limit_usd") ?? "").trim();
    const parsed = updateKeySchema.safeParse(
      amount === ""
        ? { spend_limit_usd: null }
        : { spend_limit_usd: amount, spend_limit_period: String(form.get("spend_limit_period") ?? "") },
    );
    if (!parsed.success) return { ok: false, keyId: keyId.data, error: Object.values(fieldErrors(parsed.error)).flat().join(" ") };
    try {
      await services.keys.setSpendLimit(session.account.id, keyId.data, parsed.data);
    } catch (error) {
      return { ok: false, keyId: keyId.data, error: refusalMessage(error) };
    }
    revalidatePath("/keys");
    return { ok: true, keyId: keyId.data };
  },
);

export const revokeKeyAction = withPageSession(async ({ session, services }, form: FormData): Promise<void> => {
  const id = keyIdSchema.safeParse(form.get("key_id"));
  // A key that is not this account's (or no longer exists) changes nothing: the list shows what is.
  if (id.success) await services.keys.revoke(session.account.id, id.data).catch(refusalMessage);
  revalidatePath("/keys");
});
