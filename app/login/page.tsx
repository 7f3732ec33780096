import type { Metadata } from "next";
import Link from "next/link";
import { redirect } from "next/navigation";
import { LogInForm } from "@/app/_components/auth-forms";
import { getPageSession } from "@/lib/http/page-session";

export const metadata: Metadata = { title: "Log in · TDK gateway" };
export const dynamic = "force-dynamic";

export default async function LogInPage({
  searchParams,
}: {
  searchParams: Promise<{ registered?: string; email?: string; reset?: string }>;
}) {
  if (await getPageSession()) redirect("/dashboard");
  const { registered, email, reset } = await searchParams;
  return (
    <>
      <h1>Log in</h1>
      {registered && (
        <p className="notice" role="status">
          Your account is ready. Log in to create your first API key.
        </p>
      )}
      {reset && (
        <p className="notice" role="status" data-testid="password-was-reset">
          Your password is set. Log in with it.
        </p>
      )}
      <LogInForm defaultEmail={typeof email === "string" ? email.slice(0, 254) : undefined} />
      <p>
        <Link href="/forgot-password">Forgotten your password?</Link> · No account yet? <Link href="/signup">Sign up</Link>.
      </p>
    </>
  );
}
