-- The operator console (issue 14, point 5): an admin role, granted from the command line; the
-- console's reads; its actions, each recorded in the audit log with the operator as actor; and the
-- per-account overrides of the call path's limits it sets.

alter table tdk_accounts add column role text not null default 'developer' check (role in ('developer', 'admin'));

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


create or replace function tdk_account_json(a tdk_accounts) returns jsonb
language sql stable as $$
  select jsonb_build_object('id', a.id, 'email', a.email, 'tier', a.tier, 'created_at', a.created_at,
    'ops_this_month', case when a.ops_month = date_trunc('month', now() at time zone 'utc')::date then a.ops_this_month else 0 end,
    'free_spent_micro', case when a.ops_month = date_trunc('month', now() at time zone 'utc')::date then a.free_spent_micro else 0 end,
    'suspended_reason', a.suspended_reason,
    'card_verified', a.card_verified_at is not null,
    'free_allowance', a.free_allowance,
    'role', a.role)
$$;

-- Sessions say when they began: the console's actions need a recent log-in.
create or replace function tdk_get_session(p_token_hash text) returns jsonb
language sql stable as $$
  select jsonb_build_object('id', s.id, 'created_at', s.created_at, 'expires_at', s.expires_at, 'account', tdk_account_json(a))
  from tdk_sessions s join tdk_accounts a on a.id = s.account_id
  where s.token_hash = p_token_hash and s.revoked_at is null and s.expires_at > now()
$$;

-- The actor of this transaction's audit entries.
create or replace function tdk_audit_as(p_actor text) returns void
language sql as $$
  select set_config('tdk.actor', p_actor, true)
$$;

create or replace function tdk_admin_set_role(p_actor text, p_email text, p_role text) returns jsonb
language plpgsql as $$
declare
  v tdk_accounts;
  v_before text;
begin
  perform tdk_audit_as(p_actor);
  select * into v from tdk_accounts where email = lower(btrim(p_email)) and deleted_at is null for update;
  if v.id is null then
    return jsonb_build_object('ok', false, 'code', 'account_not_found');
  end if;
  v_before := v.role;
  update tdk_accounts set role = p_role, updated_at = now() where id = v.id;
  perform tdk_audit(p_actor, v.id, 'account.role_changed', 'account', v.id::text,
    jsonb_build_object('role', v_before), jsonb_build_object('role', p_role));
  return jsonb_build_object('ok', true, 'account_id', v.id, 'role', p_role);
end $$;

create or replace function tdk_admin_search_accounts(p_query text, p_limit integer) returns jsonb
language sql stable as $$
  select coalesce(jsonb_agg(jsonb_build_object('id', a.id, 'email', a.email, 'tier', a.tier, 'role', a.role,
    'suspended_reason', a.suspended_reason, 'deleted', a.deleted_at is not null, 'created_at', a.created_at)
    order by a.created_at desc), '[]'::jsonb)
  from (
    select * from tdk_accounts
     where p_query = ''
        or email like '%' || lower(btrim(p_query)) || '%'
        or id::text = lower(btrim(p_query))
        or stripe_customer_id = btrim(p_query)
     order by created_at desc
     limit p_limit
  ) a
$$;

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

-- Suspend (with a reason) or lift (null): the keys stop or resume calling at once.
create or replace function tdk_admin_set_suspension(p_actor text, p_account_id uuid, p_reason text) returns jsonb
language plpgsql as $$
begin
  perform tdk_audit_as(p_actor);
  update tdk_accounts
     set suspended_reason = p_reason,
         suspended_at = case when p_reason is null then null else coalesce(suspended_at, now()) end,
         updated_at = now()
   where id = p_account_id and deleted_at is null;
  if not found then
    return jsonb_build_object('ok', false, 'code', 'account_not_found');
  end if;
  return jsonb_build_object('ok', true);
end $$;

create or replace function tdk_admin_set_tier(p_actor text, p_account_id uuid, p_tier tdk_tier) returns jsonb
language plpgsql as $$
begin
  perform tdk_audit_as(p_actor);
  update tdk_accounts set tier = p_tier, updated_at = now() where id = p_account_id and deleted_at is null;
  if not found then
    return jsonb_build_object('ok', false, 'code', 'account_not_found');
  end if;
  return jsonb_build_object('ok', true);
end $$;

-- Flagged usage (too old for Stripe, or refused by it): back to the report queue, or written off.
create or replace function tdk_admin_resolve_flagged(p_actor text, p_account_id uuid, p_retry boolean) returns jsonb
language plpgsql as $$
declare
  v_count integer;
  v_micro bigint;
begin
  with resolved as (
    update tdk_usage set billing_status = case when p_retry then 'unreported'::tdk_billing_status else 'not_billable'::tdk_billing_status end,
                         billing_batch_id = null
     where account_id = p_account_id and billing_status = 'flagged'
    returning developer_cost_micro
  )
  select count(*), coalesce(sum(developer_cost_micro), 0) into v_count, v_micro from resolved;
  perform tdk_audit(p_actor, p_account_id, case when p_retry then 'usage.flagged_retried' else 'usage.flagged_written_off' end,
    'account', p_account_id::text, jsonb_build_object('flagged_calls', v_count, 'flagged_micro', v_micro), null);
  return jsonb_build_object('ok', true, 'calls', v_count, 'micro', v_micro);
end $$;

create or replace function tdk_admin_reset_breaker(p_actor text, p_agent_id text) returns jsonb
language plpgsql as $$
declare
  v tdk_agent_breakers;
begin
  select * into v from tdk_agent_breakers where agent_id = p_agent_id for update;
  if v.agent_id is null then
    return jsonb_build_object('ok', false, 'code', 'not_found');
  end if;
  update tdk_agent_breakers set open_until = null, trips = 0, closed_at = now(), updated_at = now() where agent_id = p_agent_id;
  perform tdk_audit(p_actor, null, 'agent.breaker_reset', 'agent', p_agent_id,
    jsonb_build_object('open_until', v.open_until, 'trips', v.trips), jsonb_build_object('open_until', null, 'trips', 0));
  return jsonb_build_object('ok', true);
end $$;

create or replace function tdk_admin_breakers() returns jsonb
language sql stable as $$
  select coalesce(jsonb_agg(jsonb_build_object('agent_id', agent_id, 'open_until', open_until, 'trips', trips) order by agent_id), '[]'::jsonb)
  from tdk_agent_breakers where open_until > now() or trips > 0
$$;

select tdk_restrict_functions_to_service_role();
