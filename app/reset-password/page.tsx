import type { Metadata } from "next";
import Link from "next/link";
import { ResetPasswordForm } from "@/app/_components/account-forms";

// The token is in this page's URL: no Referer carries it to another site ("no-referrer" would also blank
// the Origin of the form's POST, which Next.js then refuses as cross-site).
export const metadata: Metadata = { title: "Set a new password · TDK gateway", referrer: "same-origin" };
export const dynamic = "force-dynamic";

export default async function ResetPasswordPage({ searchParams }: { searchParams: Promise<{ token?: string }> }) {
  const { token } = await searchParams;
  return (
    <>
      <h1>Set a new password</h1>
      {typeof token === "string" && token.length > 0 && token.length <= 200 ? (
        <>
          <p>Every session of the account is logged out once the new password is set.</p>
          <ResetPasswordForm token={token} />
        </>
      ) : (
        <p className="error" role="alert">
          This link is incomplete. <Link href="/forgot-password">Ask for a new one</Link>.
        </p>
      )}
    </>
  );
}
