-- Functions no code calls (issue 12, "dead code gone"). Each was superseded:
--   tdk_get_account          → tdk_get_billing_account / tdk_get_session carry the account
--   tdk_get_usage            → tdk_get_call (by key and request id)
--   tdk_get_wallet_state     → tdk_get_api_key and the chain's balances
--   tdk_list_billing_periods → nothing shows billing periods yet; the billing page will read them with what it needs
--   tdk_store_call_response  → tdk_settle_call / tdk_record_call_result store the outcome with the settlement
drop function if exists tdk_get_account(uuid);
drop function if exists tdk_get_usage(uuid);
drop function if exists tdk_get_wallet_state(uuid);
drop function if exists tdk_list_billing_periods(uuid);
drop function if exists tdk_store_call_response(uuid, jsonb);
