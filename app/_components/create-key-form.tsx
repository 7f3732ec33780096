"use client";

import { useActionState } from "react";
import { createKeyAction, type CreateKeyState } from "@/app/actions";

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
            Wallet <span className="mono" data-testid="new-key-wallet">{state.key.wallet.public_key}</span> holds{" "}
            <span data-testid="new-key-usdc">{state.key.wallet.usdc}</span> USDC and <span data-testid="new-key-sol">{state.key.wallet.sol}</span> SOL.
          </p>
        </div>
      )}
      <form action={formAction} className="stack">
        <label>
          Key name (optional)
          <input name="name" maxLength={64} placeholder="e.g. production" aria-describedby={state?.ok === false && state.fields ? "key-name-error" : undefined} />
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
