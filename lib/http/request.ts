import type { z } from "zod";
import { ApiError, validationError } from "./errors";

/** The client's IP as the platform reports it (Vercel sets x-forwarded-for; first hop is the client). */
/**
 * The client's IP, for per-IP rate limits. The first X-Forwarded-For hop is whatever the client
 * wrote, so it is trusted only where a proxy guarantees it:
 *  - `trustedProxyHops` null (the default): Vercel's headers, which Vercel sets itself and
 *    overwrites (`x-vercel-forwarded-for`, `x-real-ip`, then X-Forwarded-For). Right on Vercel only;
 *  - N ≥ 1: N proxies of ours append to X-Forwarded-For; the N-th entry from the right is the
 *    address the outermost of them saw. Anything left of it is the client's own writing;
 *  - 0: no proxy; no header is trusted and every client shares one bucket ("direct").
 */
export function clientIp(headers: Headers, trustedProxyHops: number | null): string {
  if (trustedProxyHops === 0) return "direct";
  if (trustedProxyHops === null) {
    const vercel = headers.get("x-vercel-forwarded-for")?.split(",")[0]?.trim() || headers.get("x-real-ip")?.trim();
    return vercel || headers.get("x-forwarded-for")?.split(",")[0]?.trim() || "unknown";
  }
  const hops = (headers.get("x-forwarded-for") ?? "")
    .split(",")
    .map((hop) => hop.trim())
    .filter(Boolean);
  return hops.length >= trustedProxyHops ? hops[hops.length - trustedProxyHops]! : "unknown";
}

const DEFAULT_MAX_BYTES = 16 * 1024;

/** Reads a JSON body: JSON content type, bounded size, then the schema. Anything else is a 4xx. */
export async function readJson<S extends z.ZodType>(
  request: Request,
  schema: S,
  options: { maxBytes?: number; optional?: boolean } = {},
): Promise<z.infer<S>> {
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;
  const declared = Number(request.headers.get("content-length") ?? "0");
  if (declared > maxBytes) throw new ApiError("payload_too_large", `The request body must be at most ${maxBytes} bytes.`);

  const text = await readBoundedText(request, maxBytes);
  let value: unknown;
  if (text.trim() === "") {
    if (!options.optional) throw new ApiError("invalid_json", "The request body must be a JSON object.");
    value = {};
  } else {
    const contentType = request.headers.get("content-type") ?? "";
    if (!/^application\/json\b/i.test(contentType)) {
      throw new ApiError("unsupported_media_type", "Send the body as JSON with Content-Type: application/json.");
    }
    try {
      value = JSON.parse(text);
    } catch {
      throw new ApiError("invalid_json", "The request body is not valid JSON.");
    }
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw validationError(parsed.error);
  return parsed.data;
}

/**
 * A request's body as text, refused past `maxBytes` as it arrives (413), and a 400 when it does not
 * arrive whole. For a body read raw (a webhook's signed bytes) as for JSON.
 */
export async function readBoundedText(request: Request, maxBytes: number): Promise<string> {
  if (!request.body) return "";
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    let read: ReadableStreamReadResult<Uint8Array>;
    try {
      read = await reader.read();
    } catch {
      // The body stream fails only when the connection does: the client went away (or its body was
      // cut short) while it was read. Its input, not our failure, and nothing was done with it yet.
      throw new ApiError("invalid_json", "The request body did not arrive whole: the connection closed before its end.");
    }
    const { done, value } = read;
    if (done) break;
    size += value.byteLength;
    if (size > maxBytes) {
      await reader.cancel().catch(() => {});
      throw new ApiError("payload_too_large", `The request body must be at most ${maxBytes} bytes.`);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString("utf8");
}

/** The origin this app is served from: APP_URL when set, else the Host the request came to. */
export function expectedOrigin(request: Request, appUrl: string | null): string | null {
  if (appUrl) return new URL(appUrl).origin;
  const host = request.headers.get("x-forwarded-host") ?? request.headers.get("host");
  if (!host) return null;
  const protocol = request.headers.get("x-forwarded-proto") ?? new URL(request.url).protocol.replace(":", "");
  return `${protocol}://${host}`;
}

/** CSRF check for cookie-authenticated state changes: the browser's Origin must be ours. */
export function isSameOrigin(request: Request, appUrl: string | null): boolean {
  const origin = request.headers.get("origin");
  const expected = expectedOrigin(request, appUrl);
  return origin !== null && expected !== null && origin === expected;
}
