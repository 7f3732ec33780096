-- The paid call checks the credential it was called with, under the key's lock (issue 11).
--
-- The paid call route reuses a key's verification for a few seconds (lib/keys/recent-verifications.ts):
-- on the embedded default a verification was a quarter of a millisecond of the database's thread on
-- every paid call. The reservation already refuses a key that is not active and an account that is
-- suspended (`tdk_reserve_call`); with this file it also refuses a credential that is no longer the
-- key's: `p_key_hash`, the hash of the key presented, must be the key's current hash, or its previous
-- one while the rotation's grace period lasts. Refused, it answers `key_inactive` and writes nothing.
-- So a verification reused after a revocation, a rotation or a suspension reserves nothing and pays
-- nothing. The refusal now says what a fresh verification would: the key's status as this
-- credential sees it (`revoked` once the credential is no longer the key's) and the suspension's
-- reason, so the gateway answers it word for word as it answers a key that fails verification.
--
-- A reused verification must not carry the operator's overrides either (quota, free allowance,
-- failure cap), which the gateway used to apply to `p_policy` from the verification: the
-- reservation now applies them itself, from the account's row under its lock, on top of the
-- configured policy the gateway sends. An operator's change holds from the next call on.
--
-- Everything else is `tdk_begin_paid_call` as 20261128002600_reservation_commit_unflushed.sql wrote it.
-- Lock order as everywhere: the key, then its account (tdk_reserve_call takes both locks again, at no cost).

drop function tdk_begin_paid_call(uuid, text, text, text, bigint, integer, bigint, text, text, jsonb, timestamptz);

create function tdk_begin_paid_call(
  p_key_id uuid, p_key_hash text, p_request_id text, p_agent_id text, p_agent_name text,
  p_agent_cost_micro bigint, p_markup_bps integer, p_developer_cost_micro bigint,
  p_idempotency_key text, p_request_hash text, p_policy jsonb, p_stale_before timestamptz
) returns jsonb language plpgsql as $$
declare
  v_key tdk_api_keys;
  v_account tdk_accounts;
  v_policy jsonb;
  v_stale boolean;
  v_reservation jsonb;
  v_wallet jsonb;
begin
  perform set_config('synchronous_commit', 'off', true);
  select * into v_key from tdk_api_keys where id = p_key_id for update;
  if v_key.id is null
     or not (v_key.key_hash = p_key_hash or (v_key.previous_key_hash = p_key_hash and v_key.previous_key_expires_at > now())) then
    return jsonb_build_object('reservation', jsonb_build_object('ok', false, 'code', 'key_inactive', 'status', 'revoked', 'reason', null),
                              'wallet', null, 'stale_pending', false);
  end if;
  if v_key.status <> 'active' then
    return jsonb_build_object('reservation', jsonb_build_object('ok', false, 'code', 'key_inactive', 'status', v_key.status, 'reason', v_key.suspended_reason),
                              'wallet', null, 'stale_pending', false);
  end if;
  select * into v_account from tdk_accounts where id = v_key.account_id for update;
  v_policy := p_policy || jsonb_strip_nulls(jsonb_build_object(
    'free_monthly_quota', v_account.quota_override,
    'free_allowance_micro', v_account.free_allowance_override_micro::text,
    'agent_failed_daily_cap_micro', case when v_account.agent_failed_cap_override_micro is not null then
      jsonb_build_object('paid', v_account.agent_failed_cap_override_micro::text, 'pro', v_account.agent_failed_cap_override_micro::text) end));
  v_stale := exists (
    select 1 from tdk_usage
     where api_key_id = p_key_id and status = 'pending' and created_at <= p_stale_before
  );
  v_reservation := tdk_reserve_call(p_key_id, p_request_id, p_agent_id, p_agent_name, p_agent_cost_micro, p_markup_bps,
                                    p_developer_cost_micro, p_idempotency_key, p_request_hash, v_policy);
  if (v_reservation->>'ok')::boolean then
    v_wallet := jsonb_build_object('public_key', v_key.wallet_public_key, 'secret_encrypted', v_key.wallet_secret_encrypted);
  end if;
  return jsonb_build_object('reservation', v_reservation, 'wallet', v_wallet, 'stale_pending', v_stale);
end $$;

select tdk_restrict_functions_to_service_role();
