import type { Metadata } from "next";
import { CreateKeyForm } from "@/app/_components/create-key-form";
import { withPageSession } from "@/lib/http/page-session";
import { AccountNotices } from "@/app/_components/account-notices";
import { KeyStatus } from "@/app/_components/key-status";
import { SpendLimitForm } from "@/app/_components/spend-limit-form";
import { RotateKeyForm } from "@/app/_components/rotate-key-form";
import { UpgradeForm } from "@/app/_components/upgrade-form";
import { revokeKeyAction } from "../actions";

export const metadata: Metadata = { title: "API keys · TDK gateway" };
export const dynamic = "force-dynamic";

const billingMessages: Record<string, string> = {
  unavailable: "Billing is not configured on this gateway.",
  // The billing service's refusal codes (lib/services.ts).
  conflict: "You are already on that tier.",
  service_unavailable: "That tier has no price configured yet.",
};

export default withPageSession(async function KeysPage(
  { session, services },
  { searchParams }: { searchParams: Promise<{ upgraded?: string; billing?: string }> },
) {
  const keys = await services.keys.list(session.account.id);
  const { upgraded, billing } = await searchParams;
  const tier = session.account.tier;

  return (
    <>
      <h1>API keys</h1>
      <p className="muted">
        Each key has its own wallet. Tier: <strong>{tier}</strong>. A spend limit bounds what a key can cost you (at your price), per UTC
        day, week, month or in total; a call that would pass it is refused before anything is paid.
      </p>
      {upgraded && (
        <p className="notice" role="status">
          Thanks! Your upgrade is being confirmed by Stripe; your tier changes in a moment.
        </p>
      )}
      {billing && billingMessages[billing] && (
        <p className="error" role="alert">
          {billingMessages[billing]}
        </p>
      )}
      <AccountNotices account={session.account} billing={services.billing.enabled} />
      {services.billing.enabled && <UpgradeForm tier={tier} />}
      <CreateKeyForm />
      <section aria-labelledby="keys-heading">
        <h2 id="keys-heading">Your keys</h2>
        {keys.length === 0 ? (
          <p>No keys yet.</p>
        ) : (
          <table>
            <caption className="muted">Full keys are shown only when created.</caption>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Key</th>
                <th scope="col">Wallet</th>
                <th scope="col">USDC</th>
                <th scope="col">SOL</th>
                <th scope="col">Status</th>
                <th scope="col">Spend limit</th>
                <th scope="col">
                  <span className="muted">Action</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {keys.map((key) => (
                <tr key={key.id} data-testid="key-row">
                  <td>{key.name}</td>
                  <td className="mono">{key.prefix}…</td>
                  <td className="mono">{key.wallet.public_key}</td>
                  <td>{key.wallet.usdc}</td>
                  <td>{key.wallet.sol}</td>
                  <td>
                    <KeyStatus keyView={key} />
                  </td>
                  <td>{key.status !== "revoked" ? <SpendLimitForm keyView={key} /> : <span className="muted">—</span>}</td>
                  <td>
                    {key.status !== "revoked" && (
                      <>
                        <RotateKeyForm keyId={key.id} keyName={key.name} />
                        <form action={revokeKeyAction}>
                          <input type="hidden" name="key_id" value={key.id} />
                          <button type="submit" className="danger" aria-label={`Revoke key ${key.name} (${key.prefix}…)`}>
                            Revoke
                          </button>
                        </form>
                      </>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
    </>
  );
});
