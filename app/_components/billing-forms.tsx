import { billingPortalAction, verifyCardAction } from "@/app/actions";

/** Off to Stripe Checkout (setup mode) to save a card: the free tier's verification. A plain form. */
export function VerifyCardForm() {
  return (
    <form action={verifyCardAction}>
      <button type="submit">Verify a card (nothing is charged)</button>
    </form>
  );
}

/** Stripe's Billing Portal: cancel the plan, change the card, pay an open invoice. A plain form. */
export function BillingPortalForm() {
  return (
    <form action={billingPortalAction}>
      <button type="submit" className="secondary">
        Manage billing (cancel, card, invoices)
      </button>
    </form>
  );
}
