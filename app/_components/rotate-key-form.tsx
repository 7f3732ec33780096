"use client";

import { useActionState } from "react";
import { rotateKeyAction, type RotateKeyState } from "@/app/actions";

/** Rotate a key's secret: same key, same wallet (agents see the same caller). The new secret is shown this once. */
export function RotateKeyForm({ keyId, keyName }: { keyId: string; keyName: string }) {
  const [state, formAction, pending] = useActionState<RotateKeyState, FormData>(rotateKeyAction, null);
  return (
    <div>
      {state?.ok && (
        <div className="secret" role="status" data-testid="rotated-key">
          <p>
            <strong>Copy the new secret of {keyName} now. It will not be shown again.</strong>
          </p>
          <code data-testid="rotated-api-key">{state.apiKey}</code>
          <p>
            The old secret works until <time dateTime={state.previousExpiresAt}>{state.previousExpiresAt}</time>, then is refused as
            revoked. The wallet and its balance stay the same.
          </p>
        </div>
      )}
      {state?.ok === false && (
        <p role="alert" className="error">
          {state.error}
        </p>
      )}
      <form action={formAction} className="inline">
        <input type="hidden" name="key_id" value={keyId} />
        <label>
          Old secret works for{" "}
          <select name="grace_period_hours" defaultValue="24" aria-label={`Keep the old secret of ${keyName} working for`}>
            <option value="0">0 hours (stop it now)</option>
            <option value="1">1 hour</option>
            <option value="24">24 hours</option>
            <option value="72">3 days</option>
            <option value="168">7 days</option>
          </select>
        </label>{" "}
        <button type="submit" className="secondary" disabled={pending} aria-label={`Rotate ${keyName}`}>
          Rotate secret
        </button>
      </form>
    </div>
  );
}
