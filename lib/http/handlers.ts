import { createHash, timingSafeEqual } from "node:crypto";
import type { NextRequest } from "next/server";
import type { AppContext } from "@/lib/context";
import { SESSION_COOKIE, type Session } from "@/lib/auth/sessions";
import { tierRateLimits, unauthenticatedRateLimit } from "@/lib/ratelimit/policies";
import type { RateLimitPolicy } from "@/lib/ratelimit/types";
import { rateLimitHeaders } from "@/lib/ratelimit/types";
import { getServices, type Services } from "@/lib/services";
import type { VerifiedKey } from "@/lib/keys/schemas";
import { logger } from "@/lib/logger";
import { observeRequest } from "@/lib/ops/metrics";
import { ApiError } from "./errors";
import { clientIp, expectedOrigin, isSameOrigin } from "./request";
import { errorResponse, newRequestId } from "./response";

/**
 * One wrapper per kind of caller. The wrapper authenticates, assigns the request id, and maps
 * every failure to the common error shape; the handler reads like the feature.
 */

export interface RouteContext<P> {
  params: Promise<P>;
}

export interface PublicCall<P> {
  request: NextRequest;
  /** Everything the handler calls: the same services the server actions use. */
  services: Services;
  /** The parts the services are built from (configuration: `app.env`). */
  app: AppContext;
  requestId: string;
  /** This gateway's own origin, for the links an answer carries and Stripe's return URLs. */
  origin: string;
  params: P;
  /** Headers added to whatever the answer turns out to be, errors included. */
  responseHeaders: Headers;
  /** Adds fields to the request's log line (key and account ids, a call's cost): never a secret. */
  annotate(fields: Record<string, string | number | null>): void;
  /** Applies a rate limit; throws `rate_limited` (429, Retry-After) when it is exceeded. */
  limit(policy: RateLimitPolicy, identifier: string, options?: { headers?: boolean }): Promise<void>;
}

export interface SessionCall<P> extends PublicCall<P> {
  session: Session;
  /** How the caller authenticated: cookies need the Origin check, Bearer tokens do not. */
  via: "cookie" | "bearer";
}

type Handler<C> = (call: C) => Promise<Response>;

const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

function run<P>(handler: Handler<PublicCall<P>>) {
  return async (request: NextRequest, route: RouteContext<P>): Promise<Response> => {
    const requestId = newRequestId();
    const started = performance.now();
    const responseHeaders = new Headers({ "X-Request-Id": requestId });
    const logFields: Record<string, string | number | null> = {};
    const annotate = (fields: Record<string, string | number | null>) => Object.assign(logFields, fields);
    let response: Response;
    try {
      const services = await getServices();
      const params = (await route?.params) ?? ({} as P);
      const limit = async (policy: RateLimitPolicy, identifier: string, options: { headers?: boolean } = {}) => {
        try {
          const result = await services.limits.enforce(policy, identifier);
          if (options.headers) for (const [name, value] of Object.entries(rateLimitHeaders(result))) responseHeaders.set(name, value);
        } catch (error) {
          if (options.headers && error instanceof ApiError)
            for (const [name, value] of Object.entries(error.details.headers ?? {})) responseHeaders.set(name, value);
          throw error;
        }
      };
      const origin = expectedOrigin(request, services.app.env.appUrl) ?? "http://localhost:3000";
      response = await handler({ request, services, app: services.app, requestId, origin, params, responseHeaders, limit, annotate });
    } catch (error) {
      response = errorResponse(error, requestId);
    }
    responseHeaders.forEach((value, name) => {
      if (!response.headers.has(name)) response.headers.set(name, value);
    });
    const seconds = (performance.now() - started) / 1000;
    observeRequest(seconds);
    // One line per request: what was asked, by whom (ids only), how it ended, how long it took.
    logger.info("request", {
      request_id: requestId,
      method: request.method,
      route: request.nextUrl.pathname,
      status: response.status,
      duration_ms: Math.round(seconds * 10_000) / 10,
      ...logFields,
    });
    return response;
  };
}

/** Unauthenticated endpoints (sign-up, log-in). */
export function withPublic<P = Record<string, never>>(handler: Handler<PublicCall<P>>) {
  return run<P>(handler);
}

/**
 * The web pages' JSON endpoints: a session from the cookie or from `Authorization: Bearer tds_…`.
 * A state-changing request authenticated by the cookie must come from our own origin (CSRF).
 */
export function withSession<P = Record<string, never>>(handler: Handler<SessionCall<P>>) {
  return run<P>(async (call) => {
    const { token, via } = sessionToken(call.request);
    const session = token ? await call.services.accounts.session(token) : null;
    if (!session) throw new ApiError("unauthorized", "Log in first: send the session cookie or Authorization: Bearer <session_token>.");
    call.annotate({ account_id: session.account.id });
    if (via === "cookie" && !SAFE_METHODS.has(call.request.method) && !isSameOrigin(call.request, call.app.env.appUrl)) {
      throw new ApiError("cross_site_request", "Cross-site request refused: the Origin header does not match this site.");
    }
    return handler({ ...call, session, via });
  });
}

export interface ApiKeyCall<P> extends PublicCall<P> {
  key: VerifiedKey;
}

/**
 * The `/v1` API: `Authorization: Bearer tk_…`. Revoked or unknown keys → 401, suspended → 403.
 * Rate limited by tier per key, with the X-RateLimit-* headers on every answer.
 * `reuseRecentVerification`: only for a route whose every money step checks the key again in SQL
 * (the paid call: lib/keys/recent-verifications.ts says what a reused verification can carry stale).
 */
export function withApiKey<P = Record<string, never>>(
  handler: Handler<ApiKeyCall<P>>,
  options: { reuseRecentVerification?: boolean } = {},
) {
  return run<P>(async (call) => {
    const match = /^Bearer\s+(\S+)$/i.exec(call.request.headers.get("authorization") ?? "");
    const verified = match ? await call.services.keys.verify(match[1]!, { reuseRecent: options.reuseRecentVerification }) : null;
    if (!verified?.ok) {
      await call.limit(unauthenticatedRateLimit, clientIp(call.request.headers, call.app.env.trustedProxyHops), { headers: true });
      if (verified?.code === "key_suspended") {
        throw new ApiError("key_suspended", `This API key is suspended${verified.reason ? ` (${verified.reason})` : ""}.`, {
          reason: verified.reason ?? null,
        });
      }
      if (verified?.code === "account_suspended") {
        throw new ApiError(
          "account_suspended",
          `This account is suspended${verified.reason ? ` (${verified.reason})` : ""}: its keys cannot call until it is lifted.`,
          {
            reason: verified.reason ?? null,
          },
        );
      }
      if (verified?.code === "key_revoked") throw new ApiError("key_revoked", "This API key has been revoked.");
      throw new ApiError(
        match ? "invalid_api_key" : "unauthorized",
        match ? "Unknown API key." : "Send your API key as Authorization: Bearer tk_….",
      );
    }
    call.annotate({ key_id: verified.key.key_id, account_id: verified.key.account_id });
    await call.limit(tierRateLimits[verified.key.tier], verified.key.key_id, { headers: true });
    return handler({ ...call, key: verified.key });
  });
}

/**
 * Vercel cron routes: `Authorization: Bearer $CRON_SECRET`, compared in constant time. Without a
 * configured secret every call is refused: an unprotected cron would let anyone move money.
 */
export function withCron<P = Record<string, never>>(handler: Handler<PublicCall<P>>) {
  return run<P>(async (call) => {
    if (!presentsCronSecret(call)) throw new ApiError("unauthorized", "Cron routes need Authorization: Bearer <CRON_SECRET>.");
    return handler(call);
  });
}

/** Whether the request carries `Authorization: Bearer $CRON_SECRET` (never true when no secret is configured). */
export function presentsCronSecret(call: Pick<PublicCall<unknown>, "app" | "request">): boolean {
  return presentsOneOf(call, [call.app.env.cronSecret]);
}

/** Whether the request's Bearer token is one of these configured secrets (each compared in constant time). */
function presentsOneOf(call: Pick<PublicCall<unknown>, "request">, secrets: (string | null)[]): boolean {
  const presented = /^Bearer\s+(\S+)$/i.exec(call.request.headers.get("authorization") ?? "")?.[1] ?? "";
  // Every configured secret is compared, so the time taken does not say which one matched.
  return secrets.map((secret) => secret !== null && constantTimeEqual(presented, secret)).some(Boolean);
}

/** The metrics endpoint: `Authorization: Bearer $METRICS_TOKEN` or `$CRON_SECRET`; neither configured, every call refused. */
export function withMetricsToken<P = Record<string, never>>(handler: Handler<PublicCall<P>>) {
  return run<P>(async (call) => {
    if (!presentsOneOf(call, [call.app.env.metricsToken, call.app.env.cronSecret])) {
      throw new ApiError("unauthorized", "Metrics need Authorization: Bearer <METRICS_TOKEN or CRON_SECRET>.");
    }
    return handler(call);
  });
}

function constantTimeEqual(a: string, b: string): boolean {
  // Hash first: equal lengths for timingSafeEqual, and the secret's length is not revealed.
  const digest = (value: string) => createHash("sha256").update(value).digest();
  return timingSafeEqual(digest(a), digest(b));
}

export function sessionToken(request: NextRequest): { token: string | null; via: "cookie" | "bearer" } {
  const authorization = request.headers.get("authorization");
  if (authorization) {
    const match = /^Bearer\s+(\S+)$/i.exec(authorization);
    return { token: match?.[1] ?? null, via: "bearer" };
  }
  return { token: request.cookies.get(SESSION_COOKIE)?.value ?? null, via: "cookie" };
}
