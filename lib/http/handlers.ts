import type { NextRequest } from "next/server";
import { getAppContext, type AppContext } from "@/lib/context";
import { getSession, SESSION_COOKIE, type Session } from "@/lib/auth/sessions";
import type { RateLimitPolicy } from "@/lib/ratelimit/types";
import { rateLimitHeaders, retryAfterSeconds } from "@/lib/ratelimit/types";
import { ApiError } from "./errors";
import { isSameOrigin } from "./request";
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
  app: AppContext;
  requestId: string;
  params: P;
  /** Applies a rate limit; throws `rate_limited` (429, Retry-After) when it is exceeded. */
  limit(policy: RateLimitPolicy, identifier: string): Promise<void>;
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
    try {
      const app = await getAppContext();
      const params = (await route?.params) ?? ({} as P);
      const limit = async (policy: RateLimitPolicy, identifier: string) => {
        const result = await app.limiter.limit(policy, identifier);
        if (!result.success) {
          throw new ApiError("rate_limited", "Too many requests. Wait before trying again.", {
            headers: { ...rateLimitHeaders(result), "Retry-After": String(retryAfterSeconds(result)) },
          });
        }
      };
      const response = await handler({ request, app, requestId, params, limit });
      response.headers.set("X-Request-Id", requestId);
      return response;
    } catch (error) {
      const response = errorResponse(error, requestId);
      response.headers.set("X-Request-Id", requestId);
      return response;
    }
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
    const session = token ? await getSession(call.app.db, token) : null;
    if (!session) throw new ApiError("unauthorized", "Log in first: send the session cookie or Authorization: Bearer <session_token>.");
    if (via === "cookie" && !SAFE_METHODS.has(call.request.method) && !isSameOrigin(call.request, call.app.env.appUrl)) {
      throw new ApiError("cross_site_request", "Cross-site request refused: the Origin header does not match this site.");
    }
    return handler({ ...call, session, via });
  });
}

export function sessionToken(request: NextRequest): { token: string | null; via: "cookie" | "bearer" } {
  const authorization = request.headers.get("authorization");
  if (authorization) {
    const match = /^Bearer\s+(\S+)$/i.exec(authorization);
    return { token: match?.[1] ?? null, via: "bearer" };
  }
  return { token: request.cookies.get(SESSION_COOKIE)?.value ?? null, via: "cookie" };
}
