import type { ErrorCode } from "./errors";

/** What each error code means and what to do about it (the docs page renders this; every code must be here). */
export const errorDocs: Record<ErrorCode, { meaning: string; action: string }> = {
  bad_request: { meaning: "The request is malformed.", action: "Check the method, path and parameters." },
  invalid_json: { meaning: "The body is not valid JSON.", action: "Send a JSON object with Content-Type: application/json." },
  validation_failed: { meaning: "The body or the query does not match the schema.", action: "Fix the fields listed in error.fields." },
  invalid_agent_input: {
    meaning: "The agent's input schema refused your input. Nothing was paid.",
    action: "Check the agent's input_schema in GET /api/tdk/v1/agents.",
  },
  invalid_signature: { meaning: "A webhook's signature did not verify.", action: "Stripe only: check STRIPE_WEBHOOK_SECRET." },
  invalid_token: {
    meaning: "A password reset link's token is unknown, already used or expired (links work once, for an hour).",
    action: "Ask for a new link on the forgotten-password page.",
  },
  unauthorized: { meaning: "No valid credentials were sent.", action: "Send Authorization: Bearer with your API key (or session token)." },
  reauthentication_required: {
    meaning: "The operator console's actions need a session begun in the last 15 minutes.",
    action: "Log out and log in again, then repeat the action.",
  },
  invalid_credentials: { meaning: "Email or password is wrong.", action: "Check both; after many attempts wait for the rate limit." },
  invalid_api_key: {
    meaning: "This API key does not exist.",
    action: "Copy the key exactly as shown when it was created, or create a new one.",
  },
  key_revoked: { meaning: "This API key was revoked.", action: "Create a new key on the keys page." },
  quota_exceeded: { meaning: "The free tier's monthly calls are used up.", action: "Upgrade on the dashboard, or wait for next month." },
  insufficient_balance: {
    meaning: "The key's wallet cannot pay this agent and could not be topped up now.",
    action: "Retry later (wallets are refilled by a cron), or contact us if it persists.",
  },
  card_required: {
    meaning: "Free tier: the account has not verified a card yet (error.url), so nothing is funded or called.",
    action: "Open error.url while logged in and save a card with Stripe; nothing is charged for the free tier.",
  },
  free_allowance_exhausted: {
    meaning:
      "Free tier: this month's allowance of agent cost (error.allowance_usd) is used up, or the card already gave a free allowance to another account.",
    action: "Upgrade on the dashboard, or wait for next month.",
  },
  spend_limit_reached: {
    meaning: "This key reached the spend limit you set (error.limit_usd per error.period). Nothing was paid.",
    action: "Wait until error.resets_at, or raise the limit on the keys page (PATCH /api/tdk/keys/{id}).",
  },
  max_cost_exceeded: {
    meaning: "The agent's price to you is above the max_cost_usd you sent. Nothing was paid.",
    action: "Raise max_cost_usd, or pick a cheaper agent.",
  },
  forbidden: { meaning: "You may not do this.", action: "Use an account that owns the resource." },
  cross_site_request: {
    meaning: "A cookie-authenticated change came from another site.",
    action: "Call from this site, or use a Bearer token.",
  },
  key_suspended: {
    meaning: "The key is suspended (error.reason, e.g. payment_failed).",
    action: "Pay the open invoice; the key comes back when Stripe reports it paid.",
  },
  account_suspended: {
    meaning: "The account is suspended (error.reason, e.g. payment_failed): none of its keys can call, be created or be funded.",
    action: "Pay the open invoice (Billing Portal on the dashboard); the account comes back when Stripe reports it paid.",
  },
  agent_not_callable: {
    meaning: "This gateway will not pay this agent (error.reason: inactive, not_priced_in_usdc, price_above_maximum). Nothing was paid.",
    action: "Pick another agent from GET /api/tdk/v1/agents (callable: true).",
  },
  not_found: { meaning: "No such resource among yours.", action: "Check the id." },
  unknown_agent: { meaning: "No agent with this id or name.", action: "Pick one from GET /api/tdk/v1/agents." },
  method_not_allowed: { meaning: "This method is not served here.", action: "Check the API reference below." },
  email_taken: { meaning: "An account with this email exists.", action: "Log in instead." },
  key_limit_reached: { meaning: "The account holds the maximum number of active keys.", action: "Revoke a key you no longer use." },
  idempotency_in_progress: {
    meaning: "The first request with this Idempotency-Key is still running.",
    action: "Retry the same request a little later: you will get its answer.",
  },
  ambiguous_agent: {
    meaning: "Several agents have this name (error.ids lists them). Nothing was paid.",
    action: "Call the agent by its id.",
  },
  identical_payment_in_flight: {
    meaning:
      "Another call of this key built a byte-identical payment at the same moment (the marketplace adds no nonce). Nothing was paid.",
    action: "Retry after Retry-After seconds: the next block gives the payment a new blockhash.",
  },
  conflict: { meaning: "The request conflicts with the current state.", action: "Read the message; nothing was changed." },
  payload_too_large: { meaning: "The body is too large.", action: "Send a smaller body (calls: 64 KiB)." },
  unsupported_media_type: { meaning: "The body is not JSON.", action: "Send Content-Type: application/json." },
  idempotency_key_reused: { meaning: "This Idempotency-Key came with a different body.", action: "Use a new key for a new request." },
  rate_limited: { meaning: "Too many requests for your tier.", action: "Wait Retry-After seconds; upgrade for higher limits." },
  key_daily_limit_reached: {
    meaning: "The account created as many keys today (UTC) as it may.",
    action: "Wait until error.retry_at (Retry-After), or reuse a key you have.",
  },
  marketplace_rate_limited: {
    meaning: "The marketplace allows each wallet (one per key) a limited number of agent calls per minute (error.limit). Nothing was paid.",
    action: "Wait Retry-After seconds, or spread calls over more keys.",
  },
  agent_failure_cap_reached: {
    meaning: "Today's calls that failed after payment (plus those in flight) reached the account's daily cap.",
    action: "Wait Retry-After seconds; the cap resets at midnight UTC.",
  },
  internal_error: { meaning: "Our fault.", action: "Retry; quote error.request_id if you contact us." },
  marketplace_error: {
    meaning: "The marketplace failed; error.paid says whether anything was paid (false: nothing was).",
    action: "Retry with the same Idempotency-Key.",
  },
  agent_failed: {
    meaning: "The agent failed after it was paid. You are not billed for it.",
    action: "Retry; the failed call shows in your usage history.",
  },
  unsafe_transaction: {
    meaning: "The marketplace built a payment the gateway refused to sign. Nothing was paid.",
    action: "Retry later; we have been alerted.",
  },
  outcome_unknown: {
    meaning: "No answer yet; the payment is checked on the chain and is never made twice.",
    action: "Read GET /api/tdk/v1/calls/{request_id} (error.call_url) or retry with the same Idempotency-Key after a minute.",
  },
  agent_unavailable: {
    meaning: "The agent kept failing after being paid and is cut off for everyone for a while. Nothing was paid.",
    action: "Retry after Retry-After seconds, or use another agent.",
  },
  service_unavailable: { meaning: "A part of the gateway is not configured or not reachable.", action: "Retry later." },
};
