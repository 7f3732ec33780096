"use client";

import { useActionState } from "react";
import { createKeyAction, type CreateKeyState } from "@/app/actions";

const fundingReasons: Record<string, string> = {
  card_required: "verify a card first (dashboard)",
  account_cap_reached: "your account's daily funding limit is reached",
  key_cap_reached: "the key's daily funding limit is reached",
  treasury_cap_reached: "the gateway's daily funding limit is reached",
  free_allowance_exhausted: "this month's free allowance is used up",
  account_suspended: "your account is suspended",
};

/** Creates a key and shows it this once: it is never retrievable again. */
export function CreateKeyForm() {
  const [state, formAction, pending] = useActionState<CreateKeyState, FormData>(createKeyAction, null);
  return (
    <section aria-labelledby="create-key-heading">
      <h2 id="create-key-heading">Create a key</h2>
      {state?.ok === false && (
        <p role="alert" className="error">
          {state.error}
        </p>
      )}
      {state?.ok && (
        <div className="secret" role="status" data-testid="new-key">
          <p>
            <strong>Copy your new API key now. It will not be shown again.</strong>
          </p>
          <code data-testid="new-api-key">{state.apiKey}</code>
          <p>
            Wallet{" "}
            <span className="mono" data-testid="new-key-wallet">
              {state.key.wallet.public_key}
            </span>{" "}
            holds <span data-testid="new-key-usdc">{state.key.wallet.usdc}</span> USDC and{" "}
            <span data-testid="new-key-sol">{state.key.wallet.sol}</span> SOL.
          </p>
          {state.funding?.status === "not_funded" && (
            <p data-testid="new-key-not-funded">
              Not funded yet: {fundingReasons[state.funding.reason] ?? state.funding.reason.replaceAll("_", " ")}. It is topped up when it
              calls, as far as the limits allow.
            </p>
          )}
        </div>
      )}
      <form action={formAction} className="stack">
        <label>
          Key name (optional)
          <input
            name="name"
            maxLength={64}
            placeholder="e.g. production"
            aria-describedby={state?.ok === false && state.fields ? "key-name-error" : undefined}
          />
          {state?.ok === false && state.fields?.name && (
            <span id="key-name-error" className="field-error">
              {state.fields.name.join(" ")}
            </span>
          )}
        </label>
        <button type="submit" disabled={pending}>
          Create API key
        </button>
      </form>
    </section>
  );
}
