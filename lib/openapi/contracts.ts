import { z } from "zod";
import { auditResponseSchema } from "@/lib/ops/ops-store";
import {
  accountDeletedResponseSchema,
  auditQuerySchema,
  changePasswordSchema,
  deleteAccountSchema,
  passwordChangedResponseSchema,
  passwordResetRequestSchema,
  passwordResetResponseSchema,
  passwordResetSchema,
  registeredResponseSchema,
  resetRequestedResponseSchema,
  logoutResponseSchema,
  sessionResponseSchema,
} from "@/lib/auth/schemas";
import { agentCatalogSchema } from "@/lib/agents/catalog";
import { callResponseSchema, usageResponseSchema } from "@/lib/usage/schemas";
import { callSuccessSchema } from "@/lib/calls/schemas";
import { checkoutResponseSchema, stripeUrlResponseSchema } from "@/lib/billing/schemas";
import { createdKeyResponseSchema, keyListResponseSchema, keyResponseSchema } from "@/lib/keys/schemas";
import { healthResponseSchema, liveResponseSchema } from "@/lib/ops/health";
import { loginSchema, registerSchema } from "@/lib/auth/schemas";
import { checkoutSchema } from "@/lib/billing/checkout";
import { callBodySchema } from "@/lib/calls/schemas";
import {
  createKeySchema,
  keyIdSchema,
  meResponseSchema,
  rotatedKeyResponseSchema,
  rotateKeySchema,
  updateKeySchema,
} from "@/lib/keys/schemas";
import { usageQuerySchema } from "@/lib/usage/usage";

/**
 * Every public route's contract: the request schemas here are the very objects the handlers parse
 * with, and the response schemas the shapes they answer. The OpenAPI document is generated from
 * this list and nothing else; tests check it against the route files and their behaviour.
 */
export type Auth = "none" | "session" | "api_key";

export interface RouteContract {
  method: "get" | "post" | "patch" | "delete";
  path: string;
  summary: string;
  auth: Auth;
  tags: string[];
  body?: z.ZodType;
  bodyOptional?: boolean;
  query?: z.ZodObject;
  params?: z.ZodObject;
  headers?: { name: string; description: string; schema: z.ZodType }[];
  success: { status: number; description: string; schema: z.ZodType; contentTypes?: string[] };
  errors: number[];
}

const keyIdParams = z.object({ id: keyIdSchema });

export const routeContracts: RouteContract[] = [
  {
    method: "post",
    path: "/api/tdk/auth/register",
    summary: "Create a developer account",
    auth: "none",
    tags: ["Accounts"],
    body: registerSchema,
    success: { status: 201, description: "The account, logged in: its session (and cookie)", schema: registeredResponseSchema },
    errors: [400, 409, 413, 415, 429],
  },
  {
    method: "post",
    path: "/api/tdk/auth/password-reset",
    summary: "Mail a single-use password reset link (valid one hour); the same answer whether the email has an account or not",
    auth: "none",
    tags: ["Accounts"],
    body: passwordResetRequestSchema,
    success: { status: 202, description: "Asked for", schema: resetRequestedResponseSchema },
    errors: [400, 413, 415, 429],
  },
  {
    method: "post",
    path: "/api/tdk/auth/password-reset/confirm",
    summary: "Set a new password with a reset link's token (used once; every session is revoked)",
    auth: "none",
    tags: ["Accounts"],
    body: passwordResetSchema,
    success: { status: 200, description: "The password is reset", schema: passwordResetResponseSchema },
    errors: [400, 413, 415, 429],
  },
  {
    method: "post",
    path: "/api/tdk/account/password",
    summary: "Change your password (every other session is revoked)",
    auth: "session",
    tags: ["Accounts"],
    body: changePasswordSchema,
    success: { status: 200, description: "Changed", schema: passwordChangedResponseSchema },
    errors: [400, 401, 403, 413, 415, 429],
  },
  {
    method: "get",
    path: "/api/tdk/account/audit",
    summary: "Your account's audit log, newest first: keys created, rotated, revoked, limits changed, suspensions, sweeps",
    auth: "session",
    tags: ["Accounts"],
    query: auditQuerySchema,
    success: { status: 200, description: "A page of entries", schema: auditResponseSchema },
    errors: [400, 401],
  },
  {
    method: "delete",
    path: "/api/tdk/account",
    summary: "Delete your account: keys revoked, wallets swept, plan stopped at period end, personal data erased",
    auth: "session",
    tags: ["Accounts"],
    body: deleteAccountSchema,
    success: { status: 200, description: "Deleted", schema: accountDeletedResponseSchema },
    errors: [400, 401, 403, 413, 415, 429, 503],
  },
  {
    method: "post",
    path: "/api/tdk/auth/login",
    summary: "Log in: a session token (and cookie)",
    auth: "none",
    tags: ["Accounts"],
    body: loginSchema,
    success: { status: 200, description: "The session", schema: sessionResponseSchema },
    errors: [400, 401, 429],
  },
  {
    method: "post",
    path: "/api/tdk/auth/logout",
    summary: "Revoke the current session",
    auth: "session",
    tags: ["Accounts"],
    success: { status: 200, description: "Revoked", schema: logoutResponseSchema },
    errors: [401, 403],
  },
  {
    method: "get",
    path: "/api/tdk/keys",
    summary: "List your API keys with their wallets' balances",
    auth: "session",
    tags: ["Keys"],
    success: { status: 200, description: "Your keys", schema: keyListResponseSchema },
    errors: [401],
  },
  {
    method: "post",
    path: "/api/tdk/keys/generate",
    summary: "Create an API key with its own funded wallet (the key is shown once)",
    auth: "session",
    tags: ["Keys"],
    body: createKeySchema,
    bodyOptional: true,
    success: { status: 201, description: "The new key", schema: createdKeyResponseSchema },
    errors: [400, 401, 403, 409, 429],
  },
  {
    method: "get",
    path: "/api/tdk/keys/{id}",
    summary: "One of your keys",
    auth: "session",
    tags: ["Keys"],
    params: keyIdParams,
    success: { status: 200, description: "The key", schema: keyResponseSchema },
    errors: [400, 401, 404],
  },
  {
    method: "patch",
    path: "/api/tdk/keys/{id}",
    summary: "Set or clear one of your keys' spend limit",
    auth: "session",
    tags: ["Keys"],
    params: keyIdParams,
    body: updateKeySchema,
    success: { status: 200, description: "The key with its limit", schema: keyResponseSchema },
    errors: [400, 401, 403, 404, 409, 413, 415],
  },
  {
    method: "post",
    path: "/api/tdk/keys/{id}/rotate",
    summary: "A new secret for the key, same wallet (shown once); the old secret works for grace_period_hours (default 24)",
    auth: "session",
    tags: ["Keys"],
    params: keyIdParams,
    body: rotateKeySchema,
    bodyOptional: true,
    success: { status: 200, description: "The new secret and the key", schema: rotatedKeyResponseSchema },
    errors: [400, 401, 403, 404, 409, 413, 415],
  },
  {
    method: "delete",
    path: "/api/tdk/keys/{id}",
    summary: "Revoke one of your keys",
    auth: "session",
    tags: ["Keys"],
    params: keyIdParams,
    success: { status: 200, description: "The revoked key", schema: keyResponseSchema },
    errors: [400, 401, 403, 404],
  },
  {
    method: "post",
    path: "/api/tdk/v1/call",
    summary: "Pay and call an agent",
    auth: "api_key",
    tags: ["Agents"],
    body: callBodySchema,
    headers: [
      { name: "Idempotency-Key", description: "Same key and body: the stored answer, nothing paid again", schema: z.string().max(255) },
    ],
    success: { status: 200, description: "The agent's output and what the call cost", schema: callSuccessSchema },
    errors: [400, 401, 402, 403, 404, 409, 413, 415, 422, 429, 502, 503],
  },
  {
    method: "get",
    path: "/api/tdk/v1/calls/{request_id}",
    summary: "One call of this key by its request id: status, cost, and the output once it succeeded",
    auth: "api_key",
    tags: ["Agents"],
    params: z.object({ request_id: z.string().max(100) }),
    success: { status: 200, description: "The call", schema: callResponseSchema },
    errors: [401, 403, 404, 429],
  },
  {
    method: "get",
    path: "/api/tdk/v1/me",
    summary: "This key: status, wallet and balances, spend limit and what is left, monthly quota, rate limits",
    auth: "api_key",
    tags: ["Keys"],
    success: { status: 200, description: "The key and its limits", schema: meResponseSchema },
    errors: [401, 403, 429],
  },
  {
    method: "get",
    path: "/api/tdk/v1/agents",
    summary: "The agent catalog with your price for each agent",
    auth: "none",
    tags: ["Agents"],
    success: { status: 200, description: "The catalog", schema: agentCatalogSchema },
    errors: [429, 502],
  },
  {
    method: "get",
    path: "/api/tdk/v1/usage",
    summary: "This API key's usage: history, summary, CSV",
    auth: "api_key",
    tags: ["Usage"],
    query: usageQuerySchema,
    success: { status: 200, description: "Usage", schema: usageResponseSchema, contentTypes: ["application/json", "text/csv"] },
    errors: [400, 401, 403, 404, 429],
  },
  {
    method: "get",
    path: "/api/tdk/usage",
    summary: "Your account's usage over all keys (or ?key_id=)",
    auth: "session",
    tags: ["Usage"],
    query: usageQuerySchema,
    success: { status: 200, description: "Usage", schema: usageResponseSchema, contentTypes: ["application/json", "text/csv"] },
    errors: [400, 401, 404],
  },
  {
    method: "post",
    path: "/api/tdk/billing/checkout",
    summary: "Move to a paid tier: Stripe Checkout, or a price change on your one subscription",
    auth: "session",
    tags: ["Billing"],
    body: checkoutSchema,
    bodyOptional: true,
    success: { status: 200, description: "Where to send the browser, or the tier now billed", schema: checkoutResponseSchema },
    errors: [400, 401, 403, 409, 503],
  },
  {
    method: "post",
    path: "/api/tdk/billing/card",
    summary: "Save a card with Stripe (setup-mode Checkout) to verify the free tier",
    auth: "session",
    tags: ["Billing"],
    success: { status: 200, description: "Where to send the browser", schema: stripeUrlResponseSchema },
    errors: [401, 403, 503],
  },
  {
    method: "post",
    path: "/api/tdk/billing/portal",
    summary: "Stripe's Billing Portal: cancel, change the card, invoices",
    auth: "session",
    tags: ["Billing"],
    success: { status: 200, description: "Where to send the browser", schema: stripeUrlResponseSchema },
    errors: [401, 403, 503],
  },
  {
    method: "get",
    path: "/api/health",
    summary: "The gateway's health, checked at most every 30 s; its parts and treasury with Bearer CRON_SECRET",
    auth: "none",
    tags: ["Operations"],
    success: { status: 200, description: "Healthy (503 when degraded)", schema: healthResponseSchema },
    errors: [503],
  },
  {
    method: "get",
    path: "/api/health/live",
    summary: "The process answers (no I/O): for load balancers",
    auth: "none",
    tags: ["Operations"],
    success: { status: 200, description: "Alive", schema: liveResponseSchema },
    errors: [],
  },
  {
    method: "get",
    path: "/api/openapi.json",
    summary: "This document",
    auth: "none",
    tags: ["Operations"],
    success: { status: 200, description: "OpenAPI 3.1", schema: z.object({ openapi: z.string() }).catchall(z.unknown()) },
    errors: [],
  },
];
