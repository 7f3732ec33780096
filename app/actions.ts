"use server";

import { cookies, headers } from "next/headers";
import { revalidatePath } from "next/cache";
import { redirect } from "next/navigation";
import { clearedSessionCookie, sessionCookie } from "@/lib/auth/cookie";
import {
  changePasswordSchema,
  deleteAccountSchema,
  loginSchema,
  passwordResetRequestSchema,
  passwordResetSchema,
  registerSchema,
} from "@/lib/auth/schemas";
import { SESSION_COOKIE } from "@/lib/auth/sessions";
import { checkoutSchema } from "@/lib/billing/checkout";
import { ApiError, fieldErrors, type FieldErrors } from "@/lib/http/errors";
import { refusalMessage, withPageSession } from "@/lib/http/page-session";
import { clientIp } from "@/lib/http/request";
import type { InitialFunding } from "@/lib/keys/keys";
import { createKeySchema, keyIdSchema, rotateKeySchema, updateKeySchema, type KeyView } from "@/lib/keys/schemas";
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
  let session: { token: string; expiresAt: Date };
  try {
    session = await services.accounts.register(credentials.email, credentials.password);
  } catch (error) {
    return { error: refusalMessage(error), email: credentials.email };
  }
  // Signed up is logged in: straight to the dashboard, where the first key is one button away.
  (await cookies()).set(sessionCookie(session.token, session.expiresAt));
  redirect("/dashboard");
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

export type RotateKeyState =
  | { ok: true; keyId: string; apiKey: string; previousExpiresAt: string }
  | { ok: false; keyId: string; error: string }
  | null;

/** The keys page's Rotate button: a new secret for the same key and wallet, shown this once; the old one works for the grace period. */
export const rotateKeyAction = withPageSession(
  async ({ session, services }, _previous: RotateKeyState, form: FormData): Promise<RotateKeyState> => {
    const keyId = keyIdSchema.safeParse(form.get("key_id"));
    if (!keyId.success) return { ok: false, keyId: "", error: "No such key." };
    const grace = rotateKeySchema.safeParse({ grace_period_hours: Number(form.get("grace_period_hours") ?? 24) });
    if (!grace.success) return { ok: false, keyId: keyId.data, error: Object.values(fieldErrors(grace.error)).flat().join(" ") };
    try {
      const rotated = await services.keys.rotate(session.account.id, keyId.data, grace.data.grace_period_hours);
      revalidatePath("/keys");
      return { ok: true, keyId: keyId.data, apiKey: rotated.apiKey, previousExpiresAt: rotated.previousExpiresAt };
    } catch (error) {
      return { ok: false, keyId: keyId.data, error: refusalMessage(error) };
    }
  },
);

export interface AccountFormState {
  ok?: boolean;
  error?: string;
  fields?: FieldErrors;
}

/** The account page's password form: the current password, then the new one; other sessions end. */
export const changePasswordAction = withPageSession(
  async ({ session, services }, _previous: AccountFormState | null, form: FormData): Promise<AccountFormState> => {
    const parsed = changePasswordSchema.safeParse({
      current_password: String(form.get("current_password") ?? ""),
      new_password: String(form.get("new_password") ?? ""),
    });
    if (!parsed.success) return { error: "Please correct the fields below.", fields: fieldErrors(parsed.error) };
    if (!(await withinLimit(services, authLimits.passwordCheckPerAccount, session.account.id))) return { error: TOO_MANY };
    try {
      await services.accounts.changePassword(session, parsed.data.current_password, parsed.data.new_password);
      return { ok: true };
    } catch (error) {
      const message = refusalMessage(error);
      return { error: message, fields: error instanceof ApiError ? error.details.fields : undefined };
    }
  },
);

/** The account page's delete form: the password confirms it; then logged out, on the home page. */
export const deleteAccountAction = withPageSession(
  async ({ session, services }, _previous: AccountFormState | null, form: FormData): Promise<AccountFormState> => {
    const parsed = deleteAccountSchema.safeParse({ password: String(form.get("password") ?? "") });
    if (!parsed.success) return { error: "Enter your password to delete the account.", fields: fieldErrors(parsed.error) };
    if (!(await withinLimit(services, authLimits.passwordCheckPerAccount, session.account.id))) return { error: TOO_MANY };
    try {
      await services.accounts.delete(session.account.id, parsed.data.password);
    } catch (error) {
      const message = refusalMessage(error);
      return { error: message, fields: error instanceof ApiError ? error.details.fields : undefined };
    }
    (await cookies()).set(clearedSessionCookie());
    redirect("/?deleted=1");
  },
);

/** The forgotten-password form: the same answer whether an account has this email or not. */
export async function requestPasswordResetAction(_previous: AccountFormState | null, form: FormData): Promise<AccountFormState> {
  const services = await getServices();
  const ip = clientIp(await headers(), services.app.env.trustedProxyHops);
  if (!(await withinLimit(services, authLimits.passwordResetPerIp, ip))) return { error: TOO_MANY };
  const parsed = passwordResetRequestSchema.safeParse({ email: String(form.get("email") ?? "") });
  if (!parsed.success) return { error: "Please correct the fields below.", fields: fieldErrors(parsed.error) };
  if (!(await withinLimit(services, authLimits.passwordResetPerEmail, parsed.data.email))) return { error: TOO_MANY };
  await services.accounts.requestPasswordReset(parsed.data.email, await pageOrigin(services));
  return { ok: true };
}

/** The reset page's form: the link's token and a new password; then off to log in. */
export async function resetPasswordAction(_previous: AccountFormState | null, form: FormData): Promise<AccountFormState> {
  const services = await getServices();
  const ip = clientIp(await headers(), services.app.env.trustedProxyHops);
  if (!(await withinLimit(services, authLimits.passwordResetConfirmPerIp, ip))) return { error: TOO_MANY };
  const parsed = passwordResetSchema.safeParse({
    token: String(form.get("token") ?? ""),
    new_password: String(form.get("new_password") ?? ""),
  });
  if (!parsed.success) return { error: "Please correct the fields below.", fields: fieldErrors(parsed.error) };
  try {
    await services.accounts.resetPassword(parsed.data.token, parsed.data.new_password);
  } catch (error) {
    return { error: refusalMessage(error) };
  }
  redirect("/login?reset=1");
}
