import type { Metadata } from "next";
import Link from "next/link";
import { ForgotPasswordForm } from "@/app/_components/account-forms";

export const metadata: Metadata = { title: "Forgotten password · TDK gateway" };
export const dynamic = "force-dynamic";

export default function ForgotPasswordPage() {
  return (
    <>
      <h1>Forgotten password</h1>
      <p>Enter your account's email: we send a link to set a new password.</p>
      <ForgotPasswordForm />
      <p>
        <Link href="/login">Back to log in</Link>
      </p>
    </>
  );
}
