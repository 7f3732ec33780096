import { cookies } from "next/headers";
import { getAppContext } from "@/lib/context";
import { getSession, SESSION_COOKIE, type Session } from "@/lib/auth/sessions";

/** The session of the browser rendering a page (server components and server actions). */
export async function getPageSession(): Promise<Session | null> {
  const token = (await cookies()).get(SESSION_COOKIE)?.value;
  if (!token) return null;
  const app = await getAppContext();
  return getSession(app.db, token);
}
