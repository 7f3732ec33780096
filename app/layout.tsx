import type { Metadata } from "next";
import type { ReactNode } from "react";
import Link from "next/link";
import { getPageSession } from "@/lib/http/page-session";
import { logOutAction } from "./actions";
import "./globals.css";

export const metadata: Metadata = {
  title: "TDK gateway",
  description: "Call paid AI agents with a plain API key: no wallet, no crypto.",
};

export default async function RootLayout({ children }: { children: ReactNode }) {
  const session = await getPageSession();
  return (
    <html lang="en">
      <body>
        <header className="site">
          <Link href="/">
            <strong>TDK gateway</strong>
          </Link>
          <nav aria-label="Main">
            {session ? (
              <>
                <Link href="/dashboard">Dashboard</Link>
                <Link href="/keys">API keys</Link>
                <Link href="/usage">Usage</Link>
                <Link href="/billing">Billing</Link>
                <Link href="/account">Account</Link>
                <Link href="/docs">Docs</Link>
                {session.account.role === "admin" && <Link href="/admin">Console</Link>}
                <span className="muted">{session.account.email}</span>
                <form action={logOutAction}>
                  <button type="submit" className="secondary">
                    Log out
                  </button>
                </form>
              </>
            ) : (
              <>
                <Link href="/docs">Docs</Link>
                <Link href="/login">Log in</Link>
                <Link href="/signup">Sign up</Link>
              </>
            )}
          </nav>
        </header>
        <main>{children}</main>
      </body>
    </html>
  );
}
