import type { Metadata } from "next";
import Link from "next/link";
import { VerifyCardForm } from "@/app/_components/billing-forms";
import { microToUsd } from "@/lib/money/units";
import { withPageSession } from "@/lib/http/page-session";

export const metadata: Metadata = { title: "Verify a card · TDK gateway" };
export const dynamic = "force-dynamic";

/** Where a `card_required` answer sends the developer: why a card is asked for, and the button. */
export default withPageSession(async function VerifyCardPage({ session, services }) {
  const { app } = services;
  const allowance = microToUsd(app.env.limits.freeMonthlyAllowanceMicro);
  return (
    <>
      <h1>Verify a card for the free tier</h1>
      {!services.billing.enabled ? (
        <p>
          This gateway runs without billing: no card is needed. <Link href="/dashboard">Back to the dashboard</Link>.
        </p>
      ) : session.account.card_verified ? (
        <p className="notice" role="status">
          Your card is verified. <Link href="/dashboard">Back to the dashboard</Link>.
        </p>
      ) : (
        <>
          <p>
            The free tier pays agents for you: up to {app.env.pricing.freeMonthlyQuota.toLocaleString("en-US")} calls and {allowance} USD of
            agent cost a month. To keep it to one free tier per person, your keys are funded and can call agents once you have saved a card
            with Stripe. Nothing is charged; a card already used by another account does not give a second free allowance.
          </p>
          <VerifyCardForm />
        </>
      )}
    </>
  );
});
