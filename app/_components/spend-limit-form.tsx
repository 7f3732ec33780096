"use client";

import { useActionState } from "react";
import { setSpendLimitAction, type SpendLimitState } from "@/app/actions";
import type { KeyView } from "@/lib/keys/keys";

/** A key's spend limit: what is left of it, and a form to set it (empty amount clears it). Works without JavaScript. */
export function SpendLimitForm({ keyView }: { keyView: Pick<KeyView, "id" | "name" | "spend_limit"> }) {
  const [state, formAction, pending] = useActionState<SpendLimitState, FormData>(setSpendLimitAction, null);
  const limit = keyView.spend_limit;
  const errorId = `spend-limit-error-${keyView.id}`;
  return (
    <div>
      <p data-testid="spend-limit">
        {limit ? (
          <>
            {limit.usd} USD per {limit.period === "total" ? "key lifetime" : limit.period}: {limit.remaining_usd} left
            {limit.resets_at && <span className="muted"> (resets {limit.resets_at.replace("T", " ").slice(0, 16)} UTC)</span>}
          </>
        ) : (
          <span className="muted">No limit</span>
        )}
      </p>
      <form action={formAction} aria-describedby={state?.ok === false ? errorId : undefined}>
        <input type="hidden" name="key_id" value={keyView.id} />
        <label>
          <span className="visually-hidden">Spend limit in USD for key {keyView.name} (empty: no limit)</span>
          <input
            name="spend_limit_usd"
            inputMode="decimal"
            placeholder="USD, e.g. 5.00"
            defaultValue={limit?.usd.replace(/\.?0+$/, "") ?? ""}
            size={10}
          />
        </label>
        <label>
          <span className="visually-hidden">Period</span>
          <select name="spend_limit_period" defaultValue={limit?.period ?? "month"}>
            <option value="day">per day</option>
            <option value="week">per week</option>
            <option value="month">per month</option>
            <option value="total">in total</option>
          </select>
        </label>{" "}
        <button type="submit" className="secondary" disabled={pending}>
          Set limit
        </button>
        {state?.ok === false && (
          <span id={errorId} className="field-error" role="alert">
            {" "}
            {state.error}
          </span>
        )}
      </form>
    </div>
  );
}
