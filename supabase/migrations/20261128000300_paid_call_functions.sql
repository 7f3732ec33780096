-- The paid call: reserve, record the signed payment, settle, recover; usage history and summary;
-- top-ups within caps. Each is one function, so each is atomic on every backend.

create or replace function tdk_usage_json(u tdk_usage) returns jsonb
language sql immutable as $$
  select jsonb_build_object(
    'id', u.id, 'request_id', u.request_id, 'api_key_id', u.api_key_id, 'account_id', u.account_id,
    'agent_id', u.agent_id, 'agent_name', u.agent_name, 'status', u.status,
    'agent_cost_micro', u.agent_cost_micro, 'markup_bps', u.markup_bps, 'developer_cost_micro', u.developer_cost_micro,
    'tier', u.tier, 'payment_intent_id', u.payment_intent_id, 'tx_signature', u.tx_signature,
    'recent_blockhash', u.recent_blockhash, 'receipt_id', u.receipt_id, 'error', u.error,
    'idempotency_key', u.idempotency_key, 'request_hash', u.request_hash, 'response', u.response,
    'billing_status', u.billing_status, 'created_at', u.created_at, 'settled_at', u.settled_at)
$$;

-- Step 6 of a paid call, all or nothing: the key is active, the free tier's monthly quota has
-- room, the wallet's spendable balance covers the agent's price, and a `pending` usage row (the
-- intent) holds the reservation. A repeated Idempotency-Key returns the first call's row instead.
create or replace function tdk_reserve_call(
  p_key_id uuid, p_request_id text, p_agent_id text, p_agent_name text,
  p_agent_cost_micro bigint, p_markup_bps integer, p_developer_cost_micro bigint,
  p_free_monthly_quota integer, p_idempotency_key text, p_request_hash text
) returns jsonb language plpgsql as $$
declare
  v_key tdk_api_keys;
  v_account tdk_accounts;
  v_existing tdk_usage;
  v_usage tdk_usage;
  v_month date := date_trunc('month', now() at time zone 'utc')::date;
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
  if v_account.ops_month <> v_month then
    update tdk_accounts set ops_this_month = 0, ops_month = v_month where id = v_account.id
    returning * into v_account;
  end if;
  if v_account.tier = 'free' and v_account.ops_this_month >= p_free_monthly_quota then
    return jsonb_build_object('ok', false, 'code', 'quota_exceeded', 'limit', p_free_monthly_quota, 'used', v_account.ops_this_month);
  end if;

  if v_key.wallet_usdc_micro - v_key.reserved_usdc_micro < p_agent_cost_micro then
    return jsonb_build_object('ok', false, 'code', 'insufficient_balance',
      'available_micro', greatest(v_key.wallet_usdc_micro - v_key.reserved_usdc_micro, 0), 'required_micro', p_agent_cost_micro);
  end if;

  insert into tdk_usage (request_id, api_key_id, account_id, agent_id, agent_name, agent_cost_micro, markup_bps,
                         developer_cost_micro, tier, idempotency_key, request_hash)
  values (p_request_id, v_key.id, v_account.id, p_agent_id, p_agent_name, p_agent_cost_micro, p_markup_bps,
          p_developer_cost_micro, v_account.tier, p_idempotency_key, p_request_hash)
  returning * into v_usage;
  update tdk_api_keys set reserved_usdc_micro = reserved_usdc_micro + p_agent_cost_micro, last_used_at = now() where id = v_key.id;
  update tdk_accounts set ops_this_month = ops_this_month + 1, updated_at = now() where id = v_account.id;

  return jsonb_build_object('ok', true, 'usage', tdk_usage_json(v_usage), 'ops_this_month', v_account.ops_this_month + 1);
end $$;

-- Recorded after signing and before the payment leaves the gateway.
create or replace function tdk_record_call_payment(p_usage_id uuid, p_payment_intent_id text, p_tx_signature text, p_recent_blockhash text)
returns jsonb language plpgsql as $$
declare
  v tdk_usage;
begin
  -- Two identical payments have one signature and only one can land: refuse the second.
  if exists (select 1 from tdk_usage where tx_signature = p_tx_signature) then
    return jsonb_build_object('ok', false, 'code', 'duplicate_signature');
  end if;
  update tdk_usage
     set payment_intent_id = p_payment_intent_id, tx_signature = p_tx_signature, recent_blockhash = p_recent_blockhash
   where id = p_usage_id and status = 'pending' and tx_signature is null
  returning * into v;
  if v.id is null then
    return jsonb_build_object('ok', false, 'code', 'not_pending');
  end if;
  return jsonb_build_object('ok', true, 'usage', tdk_usage_json(v));
end $$;

-- Step 9: a pending row becomes succeeded (paid, billed), agent_failed (paid, not billed) or
-- failed (not paid: reservation and quota given back). Only once.
create or replace function tdk_settle_call(
  p_usage_id uuid, p_status tdk_usage_status, p_tx_signature text, p_receipt_id text, p_error text, p_response jsonb
) returns jsonb language plpgsql as $$
declare
  v tdk_usage;
  v_paid boolean := p_status in ('succeeded', 'agent_failed');
begin
  if p_status = 'pending' then
    return jsonb_build_object('ok', false, 'code', 'invalid_status');
  end if;
  -- Same lock order as the reservation: key first.
  perform 1 from tdk_api_keys k join tdk_usage u on u.api_key_id = k.id where u.id = p_usage_id for update of k;
  update tdk_usage
     set status = p_status,
         tx_signature = coalesce(p_tx_signature, tx_signature),
         receipt_id = p_receipt_id,
         error = p_error,
         response = p_response,
         billing_status = case when p_status = 'succeeded' then 'unreported'::tdk_billing_status else 'not_billable'::tdk_billing_status end,
         settled_at = now()
   where id = p_usage_id and status = 'pending'
  returning * into v;
  if v.id is null then
    select * into v from tdk_usage where id = p_usage_id;
    return jsonb_build_object('ok', false, 'code', case when v.id is null then 'not_found' else 'already_settled' end,
                              'usage', case when v.id is null then null else tdk_usage_json(v) end);
  end if;

  update tdk_api_keys
     set reserved_usdc_micro = greatest(reserved_usdc_micro - v.agent_cost_micro, 0),
         wallet_usdc_micro = case when v_paid then greatest(wallet_usdc_micro - v.agent_cost_micro, 0) else wallet_usdc_micro end
   where id = v.api_key_id;
  if not v_paid then
    update tdk_accounts
       set ops_this_month = greatest(ops_this_month - 1, 0)
     where id = v.account_id and ops_month = date_trunc('month', v.created_at at time zone 'utc')::date;
  end if;
  return jsonb_build_object('ok', true, 'usage', tdk_usage_json(v));
end $$;

-- Keeps the answer of a settled call for Idempotency-Key replays (written once).
create or replace function tdk_store_call_response(p_usage_id uuid, p_response jsonb)
returns jsonb language sql as $$
  with updated as (
    update tdk_usage set response = p_response where id = p_usage_id and status <> 'pending' and response is null returning 1
  )
  select jsonb_build_object('updated', exists (select 1 from updated))
$$;

create or replace function tdk_get_usage(p_usage_id uuid) returns jsonb
language sql stable as $$
  select tdk_usage_json(u) from tdk_usage u where u.id = p_usage_id
$$;

-- Pending calls to resolve (crash recovery), oldest first; one key's or everyone's.
create or replace function tdk_list_pending_calls(p_key_id uuid, p_older_than timestamptz, p_limit integer)
returns jsonb language sql stable as $$
  select coalesce(jsonb_agg(tdk_usage_json(u) order by u.created_at, u.id), '[]'::jsonb)
  from (
    select * from tdk_usage
     where status = 'pending' and created_at <= p_older_than and (p_key_id is null or api_key_id = p_key_id)
     order by created_at, id limit p_limit
  ) u
$$;

-- Usage history, newest first, keyset-paged by (created_at, id). One key's or the whole account's.
create or replace function tdk_usage_history(
  p_account_id uuid, p_key_id uuid, p_before_time timestamptz, p_before_id uuid, p_limit integer
) returns jsonb language sql stable as $$
  select coalesce(jsonb_agg(tdk_usage_json(u) order by u.created_at desc, u.id desc), '[]'::jsonb)
  from (
    select * from tdk_usage
     where account_id = p_account_id
       and (p_key_id is null or api_key_id = p_key_id)
       and (p_before_time is null or (created_at, id) < (p_before_time, p_before_id))
     order by created_at desc, id desc
     limit p_limit
  ) u
$$;

-- Totals over a time range: calls by status, agent and developer cost of paid calls, by agent and
-- by UTC day. Developer cost counts billed calls (succeeded) only.
create or replace function tdk_usage_summary(p_account_id uuid, p_key_id uuid, p_from timestamptz, p_to timestamptz)
returns jsonb language sql stable as $$
  with rows as (
    select * from tdk_usage
     where account_id = p_account_id and (p_key_id is null or api_key_id = p_key_id)
       and created_at >= p_from and created_at < p_to
  ),
  totals as (
    select count(*) as calls,
           count(*) filter (where status = 'succeeded') as succeeded,
           count(*) filter (where status = 'failed') as failed,
           count(*) filter (where status = 'agent_failed') as agent_failed,
           count(*) filter (where status = 'pending') as pending,
           coalesce(sum(agent_cost_micro) filter (where status in ('succeeded', 'agent_failed')), 0) as agent_cost,
           coalesce(sum(developer_cost_micro) filter (where status = 'succeeded'), 0) as developer_cost
      from rows
  ),
  by_agent as (
    select agent_id, max(agent_name) as agent_name, count(*) as calls,
           coalesce(sum(agent_cost_micro) filter (where status in ('succeeded', 'agent_failed')), 0) as agent_cost,
           coalesce(sum(developer_cost_micro) filter (where status = 'succeeded'), 0) as developer_cost
      from rows group by agent_id
  ),
  by_day as (
    select (created_at at time zone 'utc')::date as day, count(*) as calls,
           coalesce(sum(agent_cost_micro) filter (where status in ('succeeded', 'agent_failed')), 0) as agent_cost,
           coalesce(sum(developer_cost_micro) filter (where status = 'succeeded'), 0) as developer_cost
      from rows group by 1
  ),
  by_day_agent as (
    select (created_at at time zone 'utc')::date as day, agent_id, max(agent_name) as agent_name, count(*) as calls,
           coalesce(sum(agent_cost_micro) filter (where status in ('succeeded', 'agent_failed')), 0) as agent_cost,
           coalesce(sum(developer_cost_micro) filter (where status = 'succeeded'), 0) as developer_cost
      from rows group by 1, 2
  )
  select jsonb_build_object(
    'calls', t.calls, 'succeeded', t.succeeded, 'failed', t.failed, 'agent_failed', t.agent_failed, 'pending', t.pending,
    'agent_cost_micro', t.agent_cost, 'developer_cost_micro', t.developer_cost,
    'by_agent', (select coalesce(jsonb_agg(jsonb_build_object('agent_id', agent_id, 'agent_name', agent_name, 'calls', calls,
                   'agent_cost_micro', agent_cost, 'developer_cost_micro', developer_cost) order by developer_cost desc, agent_id), '[]'::jsonb) from by_agent),
    'by_day', (select coalesce(jsonb_agg(jsonb_build_object('day', day, 'calls', calls,
                   'agent_cost_micro', agent_cost, 'developer_cost_micro', developer_cost) order by day), '[]'::jsonb) from by_day),
    'by_day_agent', (select coalesce(jsonb_agg(jsonb_build_object('day', day, 'agent_id', agent_id, 'agent_name', agent_name, 'calls', calls,
                   'agent_cost_micro', agent_cost, 'developer_cost_micro', developer_cost) order by day, agent_id), '[]'::jsonb) from by_day_agent))
  from totals t
$$;

-- Top-ups from the treasury, recorded before their transaction is sent, only within the caps:
-- no key with a top-up already pending, a per-key daily cap and a treasury-wide daily cap (UTC
-- day). p_items: [{"api_key_id", "usdc_micro", "sol_lamports"}], all paid by one transaction.
-- All or nothing: when a key is refused, nothing is recorded and the refusals are returned, so the
-- caller rebuilds the transaction without them.
create or replace function tdk_record_topups(
  p_items jsonb, p_tx_signature text, p_recent_blockhash text, p_key_daily_cap_micro bigint, p_total_daily_cap_micro bigint
) returns jsonb language plpgsql as $$
declare
  v_day timestamptz := date_trunc('day', now() at time zone 'utc') at time zone 'utc';
  v_total_today bigint;
  v_item jsonb;
  v_key tdk_api_keys;
  v_key_today bigint;
  v_refused jsonb := '[]'::jsonb;
  v_recorded jsonb := '[]'::jsonb;
  v tdk_wallet_fundings;
begin
  -- One top-up decision at a time, treasury-wide: the total cap cannot be raced past.
  perform 1 from tdk_treasury where id = 1 for update;
  select coalesce(sum(usdc_micro), 0) into v_total_today from tdk_wallet_fundings
   where reason = 'topup' and status <> 'failed' and created_at >= v_day;
  for v_item in select * from jsonb_array_elements(p_items) loop
    select * into v_key from tdk_api_keys where id = (v_item->>'api_key_id')::uuid for update;
    if v_key.id is null or v_key.status <> 'active' then
      v_refused := v_refused || jsonb_build_object('api_key_id', v_item->>'api_key_id', 'code', 'key_inactive');
      continue;
    end if;
    if exists (select 1 from tdk_wallet_fundings where api_key_id = v_key.id and status = 'pending') then
      v_refused := v_refused || jsonb_build_object('api_key_id', v_key.id, 'code', 'topup_in_flight');
      continue;
    end if;
    select coalesce(sum(usdc_micro), 0) into v_key_today from tdk_wallet_fundings
     where api_key_id = v_key.id and reason = 'topup' and status <> 'failed' and created_at >= v_day;
    if v_key_today + (v_item->>'usdc_micro')::bigint > p_key_daily_cap_micro then
      v_refused := v_refused || jsonb_build_object('api_key_id', v_key.id, 'code', 'key_cap_reached', 'funded_today_micro', v_key_today);
      continue;
    end if;
    if v_total_today + (v_item->>'usdc_micro')::bigint > p_total_daily_cap_micro then
      v_refused := v_refused || jsonb_build_object('api_key_id', v_key.id, 'code', 'treasury_cap_reached', 'funded_today_micro', v_total_today);
      continue;
    end if;
    v_total_today := v_total_today + (v_item->>'usdc_micro')::bigint;
    insert into tdk_wallet_fundings (api_key_id, wallet_public_key, reason, usdc_micro, sol_lamports, tx_signature, recent_blockhash)
    values (v_key.id, v_key.wallet_public_key, 'topup', (v_item->>'usdc_micro')::bigint, (v_item->>'sol_lamports')::bigint, p_tx_signature, p_recent_blockhash)
    returning * into v;
    v_recorded := v_recorded || tdk_funding_json(v);
  end loop;
  if jsonb_array_length(v_refused) > 0 then
    -- Undo this call's inserts: the transaction pays for all of them or none.
    delete from tdk_wallet_fundings where tx_signature = p_tx_signature and status = 'pending';
    return jsonb_build_object('ok', false, 'refused', v_refused);
  end if;
  return jsonb_build_object('ok', true, 'fundings', v_recorded);
end $$;

-- Wallet state needed by the call path (balances, reservation) for one key.
create or replace function tdk_get_wallet_state(p_key_id uuid) returns jsonb
language sql stable as $$
  select jsonb_build_object('key_id', k.id, 'wallet_public_key', k.wallet_public_key,
    'wallet_usdc_micro', k.wallet_usdc_micro, 'wallet_sol_lamports', k.wallet_sol_lamports,
    'reserved_usdc_micro', k.reserved_usdc_micro)
  from tdk_api_keys k where k.id = p_key_id
$$;

select tdk_restrict_functions_to_service_role();
