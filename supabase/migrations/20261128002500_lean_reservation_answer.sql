-- A held reservation answers the id and tier of the pending row it wrote, not the whole row (issue
-- 11): the rest of a paid call reads nothing else of it, and the row as JSON (`tdk_usage_json`, 24
-- fields) was built, parsed on the database's side, copied to the request thread and checked there
-- field by field on every paid call. PGlite in process, 3,000 queries a side, 4 alternations:
-- 144.7-252.7 µs a query answering a new row as `tdk_usage_json` beside 81.6-126.0 µs answering its
-- id and tier. Everything else is `tdk_reserve_call` as 20261128000600_money_safety.sql wrote it,
-- an idempotent replay's whole row included (the replay answers from it).

create or replace function tdk_reserve_call(
  p_key_id uuid, p_request_id text, p_agent_id text, p_agent_name text,
  p_agent_cost_micro bigint, p_markup_bps integer, p_developer_cost_micro bigint,
  p_idempotency_key text, p_request_hash text, p_policy jsonb
) returns jsonb language plpgsql as $$
declare
  v_key tdk_api_keys;
  v_account tdk_accounts;
  v_existing tdk_usage;
  v_usage_id uuid;
  v_usage_tier tdk_tier;
  v_breaker tdk_agent_breakers;
  v_month date := date_trunc('month', now() at time zone 'utc')::date;
  v_today date := (now() at time zone 'utc')::date;
  v_allowance bigint;
  v_cap bigint;
  v_period_start timestamptz;
  v_spent bigint;
begin
  -- Lock order everywhere: key, then account. Concurrent calls on one key queue here.
  select * into v_key from tdk_api_keys where id = p_key_id for update;
  if v_key.id is null or v_key.status <> 'active' then
    return jsonb_build_object('ok', false, 'code', 'key_inactive');
  end if;

  if p_idempotency_key is not null then
    select * into v_existing from tdk_usage where api_key_id = p_key_id and idempotency_key = p_idempotency_key;
    if v_existing.id is not null then
      return jsonb_build_object('ok', false, 'code', 'idempotent_replay', 'usage', tdk_usage_json(v_existing));
    end if;
  end if;

  select * into v_account from tdk_accounts where id = v_key.account_id for update;
  if v_account.suspended_reason is not null then
    return jsonb_build_object('ok', false, 'code', 'account_suspended', 'reason', v_account.suspended_reason);
  end if;

  select * into v_breaker from tdk_agent_breakers where agent_id = p_agent_id;
  if v_breaker.open_until > now() then
    return jsonb_build_object('ok', false, 'code', 'agent_unavailable', 'retry_at', v_breaker.open_until);
  end if;

  if v_account.ops_month <> v_month then
    update tdk_accounts set ops_this_month = 0, free_spent_micro = 0, ops_month = v_month where id = v_account.id
    returning * into v_account;
  end if;
  if v_account.agent_failed_day <> v_today then
    update tdk_accounts set agent_failed_micro = 0, agent_failed_day = v_today where id = v_account.id
    returning * into v_account;
  end if;

  if v_account.tier = 'free' then
    if coalesce((p_policy->>'require_card')::boolean, false) and v_account.card_verified_at is null then
      return jsonb_build_object('ok', false, 'code', 'card_required');
    end if;
    if v_account.ops_this_month >= (p_policy->>'free_monthly_quota')::integer then
      return jsonb_build_object('ok', false, 'code', 'quota_exceeded', 'limit', (p_policy->>'free_monthly_quota')::integer, 'used', v_account.ops_this_month);
    end if;
    v_allowance := case when v_account.free_allowance then (p_policy->>'free_allowance_micro')::bigint else 0 end;
    if v_account.free_spent_micro + p_agent_cost_micro > v_allowance then
      return jsonb_build_object('ok', false, 'code', 'free_allowance_exhausted', 'allowance_micro', v_allowance,
        'spent_micro', v_account.free_spent_micro, 'required_micro', p_agent_cost_micro, 'card_already_used', not v_account.free_allowance);
    end if;
  else
    v_cap := (p_policy->'agent_failed_daily_cap_micro'->>(v_account.tier::text))::bigint;
    if v_account.agent_failed_micro + v_account.in_flight_micro + p_agent_cost_micro > v_cap then
      return jsonb_build_object('ok', false, 'code', 'agent_failure_cap_reached', 'cap_micro', v_cap,
        'failed_today_micro', v_account.agent_failed_micro, 'in_flight_micro', v_account.in_flight_micro,
        'retry_at', case when v_account.agent_failed_micro + p_agent_cost_micro > v_cap
                         then tdk_utc_day_start(now()) + interval '1 day' else now() + interval '1 second' end);
    end if;
  end if;

  if v_key.spend_limit_micro is not null then
    v_period_start := tdk_spend_period_start(v_key.spend_limit_period, now());
    v_spent := case when v_key.spend_period_start < v_period_start then 0 else v_key.spent_micro end;
    if v_spent + p_developer_cost_micro > v_key.spend_limit_micro then
      return jsonb_build_object('ok', false, 'code', 'spend_limit_reached', 'limit_micro', v_key.spend_limit_micro,
        'spent_micro', v_spent, 'period', v_key.spend_limit_period,
        'resets_at', tdk_spend_period_end(v_key.spend_limit_period, v_period_start));
    end if;
  end if;

  if v_key.wallet_usdc_micro - v_key.reserved_usdc_micro < p_agent_cost_micro then
    return jsonb_build_object('ok', false, 'code', 'insufficient_balance',
      'available_micro', greatest(v_key.wallet_usdc_micro - v_key.reserved_usdc_micro, 0), 'required_micro', p_agent_cost_micro);
  end if;

  insert into tdk_usage (request_id, api_key_id, account_id, agent_id, agent_name, agent_cost_micro, markup_bps,
                         developer_cost_micro, tier, idempotency_key, request_hash)
  values (p_request_id, v_key.id, v_account.id, p_agent_id, p_agent_name, p_agent_cost_micro, p_markup_bps,
          p_developer_cost_micro, v_account.tier, p_idempotency_key, p_request_hash)
  returning id, tier into v_usage_id, v_usage_tier;
  update tdk_api_keys
     set reserved_usdc_micro = reserved_usdc_micro + p_agent_cost_micro, last_used_at = now(),
         spent_micro = case when spend_limit_micro is null then spent_micro else v_spent + p_developer_cost_micro end,
         spend_period_start = case when spend_limit_micro is null then spend_period_start else v_period_start end
   where id = v_key.id;
  update tdk_accounts
     set ops_this_month = ops_this_month + 1,
         free_spent_micro = free_spent_micro + case when tier = 'free' then p_agent_cost_micro else 0 end,
         in_flight_micro = in_flight_micro + p_agent_cost_micro,
         updated_at = now()
   where id = v_account.id;

  return jsonb_build_object('ok', true, 'usage', jsonb_build_object('id', v_usage_id, 'tier', v_usage_tier),
                            'ops_this_month', v_account.ops_this_month + 1);
end $$;


select tdk_restrict_functions_to_service_role();
