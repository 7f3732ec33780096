import { cookies } from "next/headers";
import { notFound, redirect } from "next/navigation";
import { SESSION_COOKIE, type Session } from "@/lib/auth/sessions";
import { ApiError } from "@/lib/errors";
import { getServices, type Operator, type Services } from "@/lib/services";

/** The session of the browser rendering a page (server components and server actions). */
export async function getPageSession(): Promise<Session | null> {
  const token = (await cookies()).get(SESSION_COOKIE)?.value;
  if (!token) return null;
  return (await getServices()).accounts.session(token);
}

export interface PageContext {
  session: Session;
  services: Services;
}

/**
 * A page or server action for a logged-in browser: without a valid session cookie it goes to the
 * log-in page, otherwise `body` runs with the session and the services (the same the routes use).
 */
export function withPageSession<A extends unknown[], R>(body: (context: PageContext, ...args: A) => Promise<R>) {
  return async (...args: A): Promise<R> => {
    const session = await getPageSession();
    if (!session) redirect("/login");
    return body({ session, services: await getServices() }, ...args);
  };
}

/** A service's refusal as a form's error message; anything else is not the user's to read and is rethrown. */
export function refusalMessage(error: unknown): string {
  if (error instanceof ApiError) return error.message;
  throw error;
}

export interface OperatorContext extends PageContext {
  operator: Operator;
}

/**
 * A page or server action of the operator console. Anyone who is not an admin (logged out
 * included) gets a plain 404: the console does not say it exists. Actions (`action: true`) also
 * need a session begun less than 15 minutes ago; Next.js refuses a server action from another origin.
 */
export function withOperator<A extends unknown[], R>(
  body: (context: OperatorContext, ...args: A) => Promise<R>,
  options: { action?: boolean } = {},
) {
  return async (...args: A): Promise<R> => {
    const [session, services] = await Promise.all([getPageSession(), getServices()]);
    let operator: Operator;
    try {
      operator = services.admin.operator(session, options);
    } catch (error) {
      if (error instanceof ApiError && error.code === "reauthentication_required") redirect("/login?reauth=1");
      notFound();
    }
    return body({ session: session!, services, operator }, ...args);
  };
}
