-- Per-account overrides of the call path's limits, set by operators in the console (issue 14,
-- point 5): the free tier's monthly quota and allowance, and the daily cap on calls that failed
-- after payment. Null: the configured default. Each change is in the audit log.
alter table tdk_accounts
  add column quota_override integer check (quota_override >= 0),
  add column free_allowance_override_micro bigint check (free_allowance_override_micro >= 0),
  add column agent_failed_cap_override_micro bigint check (agent_failed_cap_override_micro >= 0);

create or replace function tdk_account_overrides(a tdk_accounts) returns jsonb
language sql immutable as $$
  select jsonb_strip_nulls(jsonb_build_object(
    'free_monthly_quota', a.quota_override,
    'free_allowance_micro', a.free_allowance_override_micro::text,
    'agent_failed_daily_cap_micro', a.agent_failed_cap_override_micro::text))
$$;

-- Verification carries the overrides: the call path applies them to the reservation's policy.
create or replace function tdk_verify_api_key(p_key_hash text) returns jsonb
language sql stable as $$
  select jsonb_build_object(
    'key_id', k.id, 'account_id', k.account_id, 'name', k.name, 'mode', k.mode,
    'prefix', k.key_prefix,
    'status', case when k.key_hash = p_key_hash or k.previous_key_expires_at > now() then k.status else 'revoked'::tdk_key_status end,
    'suspended_reason', k.suspended_reason,
    'account_suspended_reason', a.suspended_reason,
    'tier', a.tier, 'wallet_public_key', k.wallet_public_key,
    'overrides', tdk_account_overrides(a))
  from tdk_api_keys k join tdk_accounts a on a.id = k.account_id
  where k.key_hash = p_key_hash or k.previous_key_hash = p_key_hash
  limit 1
$$;

create or replace function tdk_admin_set_overrides(
  p_actor text, p_account_id uuid, p_quota integer, p_free_allowance_micro bigint, p_agent_failed_cap_micro bigint
) returns jsonb language plpgsql as $$
declare
  v tdk_accounts;
  v_after tdk_accounts;
begin
  select * into v from tdk_accounts where id = p_account_id and deleted_at is null for update;
  if v.id is null then
    return jsonb_build_object('ok', false, 'code', 'account_not_found');
  end if;
  update tdk_accounts
     set quota_override = p_quota, free_allowance_override_micro = p_free_allowance_micro,
         agent_failed_cap_override_micro = p_agent_failed_cap_micro, updated_at = now()
   where id = p_account_id
  returning * into v_after;
  perform tdk_audit(p_actor, p_account_id, 'account.overrides_changed', 'account', p_account_id::text,
    tdk_account_overrides(v), tdk_account_overrides(v_after));
  return jsonb_build_object('ok', true, 'overrides', tdk_account_overrides(v_after));
end $$;

create or replace function tdk_admin_account(p_account_id uuid) returns jsonb
language sql stable as $$
  select jsonb_build_object(
    'account', tdk_account_json(a),
    'overrides', tdk_account_overrides(a),
    'deleted_at', a.deleted_at,
    'suspended_at', a.suspended_at,
    'stripe_customer_id', a.stripe_customer_id,
    'stripe_subscription_id', a.stripe_subscription_id,
    'subscription_status', a.subscription_status,
    'keys', (select coalesce(jsonb_agg(tdk_api_key_json(k, a) order by k.created_at), '[]'::jsonb) from tdk_api_keys k where k.account_id = a.id),
    'fundings', (select coalesce(jsonb_agg(jsonb_build_object('id', f.id, 'reason', f.reason, 'status', f.status,
                  'usdc_micro', f.usdc_micro, 'sol_lamports', f.sol_lamports, 'tx_signature', f.tx_signature, 'created_at', f.created_at)
                  order by f.created_at desc), '[]'::jsonb)
                 from (select * from tdk_wallet_fundings where account_id = a.id order by created_at desc limit 20) f),
    'flagged_calls', (select count(*) from tdk_usage where account_id = a.id and billing_status = 'flagged'),
    'flagged_micro', (select coalesce(sum(developer_cost_micro), 0) from tdk_usage where account_id = a.id and billing_status = 'flagged'))
  from tdk_accounts a where a.id = p_account_id
$$;

select tdk_restrict_functions_to_service_role();
