import type { Metadata } from "next";
import { ChangePasswordForm, DeleteAccountForm } from "@/app/_components/account-forms";
import { withPageSession } from "@/lib/http/page-session";

export const metadata: Metadata = { title: "Account · TDK gateway" };
export const dynamic = "force-dynamic";

export default withPageSession(async function AccountPage({ session }) {
  return (
    <>
      <h1>Account</h1>
      <p>
        Signed in as <strong data-testid="account-email">{session.account.email}</strong> (tier {session.account.tier}).
      </p>
      <section aria-labelledby="password-heading">
        <h2 id="password-heading">Change password</h2>
        <ChangePasswordForm />
      </section>
      <section aria-labelledby="delete-heading">
        <h2 id="delete-heading">Delete account</h2>
        <p>
          Every key is revoked at once and its wallet's funds go back to the gateway; a paid plan stops at the end of its period (what you
          used until now is billed); your email and password are erased. The record of past calls stays for the books, under an id that no
          longer leads to you. This cannot be undone.
        </p>
        <DeleteAccountForm />
      </section>
    </>
  );
});
