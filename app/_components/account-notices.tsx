import Link from "next/link";
import type { Account } from "@/lib/auth/schemas";
import { VerifyCardForm } from "./billing-forms";

/**
 * What an account must know before it calls: that it is suspended (and how to lift it), and, with
 * billing on, that a free account's keys are funded only once it verified a card. Shown on the
 * dashboard and the keys page alike.
 */
export function AccountNotices({ account, billing }: { account: Account; billing: boolean }) {
  return (
    <>
      {account.suspended_reason && (
        <p className="error" role="alert" data-testid="suspended">
          Your account is suspended ({account.suspended_reason.replace("_", " ")}): its keys cannot call and no key can be created until the
          open invoice is paid (billing portal).
        </p>
      )}
      {billing && account.tier === "free" && !account.card_verified && (
        <div className="notice" role="status">
          <p>
            Keys of the free tier are funded once you <Link href="/billing/card">verify a card</Link> (nothing is charged; one free
            allowance per card).
          </p>
          <VerifyCardForm />
        </div>
      )}
    </>
  );
}
