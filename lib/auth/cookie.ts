import { SESSION_COOKIE } from "./sessions";

/** Cookie settings for the session token: not readable by scripts, not sent cross-site. */
export function sessionCookie(token: string, expiresAt: Date) {
  return {
    name: SESSION_COOKIE,
    value: token,
    httpOnly: true,
    // Browsers accept Secure cookies on http://localhost too, so this holds in development.
    secure: true,
    sameSite: "lax" as const,
    path: "/",
    expires: expiresAt,
  };
}

export function clearedSessionCookie() {
  return { ...sessionCookie("", new Date(0)), maxAge: 0 };
}
