import type { Metadata } from "next";
import { ChangePasswordForm, DeleteAccountForm } from "@/app/_components/account-forms";
import { withPageSession } from "@/lib/http/page-session";

export const metadata: Metadata = { title: "Account · TDK gateway" };
export const dynamic = "force-dynamic";

export default withPageSession(async function AccountPage({ session, services }) {
  const audit = await services.accounts.auditLog(session.account.id, { limit: 50 });
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
      <section aria-labelledby="activity-heading">
        <h2 id="activity-heading">Activity</h2>
        {audit.entries.length === 0 ? (
          <p>Nothing yet.</p>
        ) : (
          <table>
            <caption className="muted">The last 50 changes to your keys and account, and who made them.</caption>
            <thead>
              <tr>
                <th scope="col">Time (UTC)</th>
                <th scope="col">What</th>
                <th scope="col">On</th>
                <th scope="col">By</th>
              </tr>
            </thead>
            <tbody>
              {audit.entries.map((entry) => (
                <tr key={entry.id} data-testid="audit-entry" data-action={entry.action}>
                  <td>{entry.at.replace("T", " ").slice(0, 19)}</td>
                  <td>{entry.action.replace(".", " ").replaceAll("_", " ")}</td>
                  <td className="mono">
                    {entry.target_type} {entry.target_id.slice(0, 8)}…
                  </td>
                  <td>{entry.actor.startsWith("account:") ? "you" : entry.actor.split(":")[0]}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
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
