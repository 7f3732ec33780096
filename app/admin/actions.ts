"use server";

import { revalidatePath } from "next/cache";
import { redirect } from "next/navigation";
import { z } from "zod";
import { tierSchema } from "@/lib/auth/schemas";
import { withOperator } from "@/lib/http/page-session";
import { parseUsdMicro } from "@/lib/money/units";

/** The operator console's actions: each needs a recent admin session and is recorded in the audit log. */

const accountIdSchema = z.string().uuid();
const action = { action: true };

function accountOf(form: FormData): string {
  const parsed = accountIdSchema.safeParse(form.get("account_id"));
  if (!parsed.success) redirect("/admin?error=account");
  return parsed.data;
}

function back(accountId: string, notice: string): never {
  revalidatePath(`/admin/accounts/${accountId}`);
  redirect(`/admin/accounts/${accountId}?done=${notice}`);
}

export const suspendAccountAction = withOperator(async ({ services, operator }, form: FormData): Promise<void> => {
  const accountId = accountOf(form);
  const reason = z
    .string()
    .trim()
    .regex(/^[a-z0-9_ -]{1,64}$/i)
    .safeParse(form.get("reason") || "operator");
  await services.admin.suspend(operator, accountId, reason.success ? reason.data.replaceAll(" ", "_").toLowerCase() : "operator");
  back(accountId, "suspended");
}, action);

export const liftSuspensionAction = withOperator(async ({ services, operator }, form: FormData): Promise<void> => {
  const accountId = accountOf(form);
  await services.admin.lift(operator, accountId);
  back(accountId, "lifted");
}, action);

export const setTierAction = withOperator(async ({ services, operator }, form: FormData): Promise<void> => {
  const accountId = accountOf(form);
  const tier = tierSchema.safeParse(form.get("tier"));
  if (!tier.success) back(accountId, "tier_invalid");
  await services.admin.setTier(operator, accountId, tier.data);
  back(accountId, "tier");
}, action);

export const resolveFlaggedAction = withOperator(async ({ services, operator }, form: FormData): Promise<void> => {
  const accountId = accountOf(form);
  await services.admin.resolveFlagged(operator, accountId, form.get("resolution") === "retry");
  back(accountId, "flagged");
}, action);

export const resetBreakerAction = withOperator(async ({ services, operator }, form: FormData): Promise<void> => {
  const agentId = z.string().min(1).max(128).safeParse(form.get("agent_id"));
  if (agentId.success) await services.admin.resetBreaker(operator, agentId.data);
  revalidatePath("/admin");
  redirect("/admin?done=breaker");
}, action);

/** Empty: the configured default (null); otherwise a whole number, or dollars read exactly into micro-USD. */
function optionalCount(value: FormDataEntryValue | null): number | null | undefined {
  const text = String(value ?? "").trim();
  if (text === "") return null;
  return /^\d{1,9}$/.test(text) ? Number(text) : undefined;
}
function optionalUsd(value: FormDataEntryValue | null): bigint | null | undefined {
  const text = String(value ?? "").trim();
  if (text === "") return null;
  return parseUsdMicro(text) ?? undefined;
}

export const setOverridesAction = withOperator(async ({ services, operator }, form: FormData): Promise<void> => {
  const accountId = accountOf(form);
  const quota = optionalCount(form.get("quota"));
  const freeAllowanceMicro = optionalUsd(form.get("free_allowance_usd"));
  const agentFailedCapMicro = optionalUsd(form.get("agent_failed_cap_usd"));
  if (quota === undefined || freeAllowanceMicro === undefined || agentFailedCapMicro === undefined) back(accountId, "overrides_invalid");
  await services.admin.setOverrides(operator, accountId, { quota, freeAllowanceMicro, agentFailedCapMicro });
  back(accountId, "overrides");
}, action);
