-- Money safety (DESIGN.md "Money safety"): the treasury pays before any card is charged, and a
-- payment on chain cannot be taken back, so every outflow is bounded here, in the same transaction
-- that records it:
--   * one funding path: first fundings, top-ups and sweeps are reserved by one function that checks
--     every cap (per key, per account by tier, treasury-wide; USDC and SOL, rent and fees included);
--   * suspension belongs to the account: a suspended account creates, funds and calls nothing;
--   * the free tier has a monthly allowance in USD (agent cost, failed-after-payment calls included)
--     and, with Stripe on, needs a verified card (one free allowance per card fingerprint);
--   * paid tiers: spend on calls that fail after payment is capped per account per day;
--   * an agent that keeps failing after payment is cut off for everyone (circuit breaker);
--   * developers bound their own keys (spend limit per period);
--   * a Stripe event is claimed before its handler runs, so two deliveries run it once.
--
-- Limits come from the gateway's configuration as one jsonb policy (lib/money/policy.ts):
--   { "free_monthly_quota": 5000, "free_allowance_micro": 5000000, "require_card": false,
--     "agent_failed_daily_cap_micro": { "paid": ..., "pro": ... },
--     "breaker": { "failures": 5, "window_seconds": 600, "cooldown_seconds": 600 },
--     "treasury_daily": { "usdc_micro": ..., "sol_lamports": ... },
--     "tiers": { "free": { "key_daily": { "usdc_micro": ..., "sol_lamports": ... },
--                          "account_daily": { "usdc_micro": ..., "sol_lamports": ... } }, "paid": ..., "pro": ... } }

create type tdk_spend_period as enum ('day', 'week', 'month', 'total');

-- ---------------------------------------------------------------------------------------------
-- Schema

alter table tdk_accounts
  add column suspended_reason text,
  add column suspended_at timestamptz,
  -- Free tier: agent cost of this month's calls (ops_month), reserved or settled as paid.
  add column free_spent_micro bigint not null default 0 check (free_spent_micro >= 0),
  -- Card verification (Stripe on): the free allowance is given once per card fingerprint.
  add column card_verified_at timestamptz,
  add column card_fingerprint text,
  add column free_allowance boolean not null default true,
  -- Paid tiers: agent cost of calls that failed after payment today (agent_failed_day, UTC), and
  -- the agent cost of the account's calls in flight (either may still end agent_failed).
  add column agent_failed_day date not null default (now() at time zone 'utc')::date,
  add column agent_failed_micro bigint not null default 0 check (agent_failed_micro >= 0),
  add column in_flight_micro bigint not null default 0 check (in_flight_micro >= 0),
  add constraint tdk_accounts_suspension_has_time check ((suspended_reason is null) = (suspended_at is null)),
  add constraint tdk_accounts_card_has_fingerprint check ((card_verified_at is null) = (card_fingerprint is null));

-- Key suspensions for a failed payment become the account's.
update tdk_accounts a
   set suspended_reason = 'payment_failed', suspended_at = now()
 where exists (select 1 from tdk_api_keys k where k.account_id = a.id and k.status = 'suspended' and k.suspended_reason = 'payment_failed');
update tdk_api_keys set status = 'active', suspended_reason = null where status = 'suspended' and suspended_reason = 'payment_failed';
update tdk_accounts a
   set in_flight_micro = coalesce((select sum(u.agent_cost_micro) from tdk_usage u where u.account_id = a.id and u.status = 'pending'), 0),
       free_spent_micro = coalesce((select sum(u.agent_cost_micro) from tdk_usage u
                                     where u.account_id = a.id and u.tier = 'free' and u.status in ('pending', 'succeeded', 'agent_failed')
                                       and u.created_at >= a.ops_month::timestamp at time zone 'utc'), 0);

alter table tdk_api_keys
  -- The developer's own bound on what the key may cost (developer price), per period.
  add column spend_limit_micro bigint check (spend_limit_micro > 0),
  add column spend_limit_period tdk_spend_period,
  add column spend_period_start timestamptz,
  add column spent_micro bigint not null default 0 check (spent_micro >= 0),
  -- When the revoked key's wallet was emptied back into the treasury.
  add column swept_at timestamptz,
  add constraint tdk_api_keys_spend_limit_whole check ((spend_limit_micro is null) = (spend_limit_period is null)),
  add constraint tdk_api_keys_swept_only_revoked check (swept_at is null or status = 'revoked');
create index tdk_api_keys_to_sweep_idx on tdk_api_keys (id) where status = 'revoked' and swept_at is null;

-- Fundings are reserved (caps checked, amounts fixed) before their transaction is signed, and the
-- signature is attached before it is sent; a funding that was never signed has no signature.
alter table tdk_wallet_fundings
  add column account_id uuid references tdk_accounts (id) on delete cascade,
  -- What the treasury pays beside the transfer: the fee, and the rent of a new USDC account.
  add column overhead_lamports bigint not null default 0 check (overhead_lamports >= 0),
  -- After this block height the signed transaction can no longer land (see the next migration).
  add column last_valid_block_height bigint check (last_valid_block_height >= 0),
  alter column tx_signature drop not null,
  add constraint tdk_wallet_fundings_confirmed_has_signature check (status <> 'confirmed' or tx_signature is not null);
update tdk_wallet_fundings f set account_id = k.account_id from tdk_api_keys k where k.id = f.api_key_id;
alter table tdk_wallet_fundings alter column account_id set not null;
create index tdk_wallet_fundings_account_idx on tdk_wallet_fundings (account_id, created_at);
create index tdk_wallet_fundings_time_idx on tdk_wallet_fundings (created_at);

-- The first account that verified a card owns its free allowance.
create table tdk_card_fingerprints (
  fingerprint text primary key check (length(fingerprint) between 1 and 64),
  account_id uuid not null references tdk_accounts (id),
  created_at timestamptz not null default now()
);
alter table tdk_card_fingerprints enable row level security;

-- Agents cut off for failing after payment. Failures settled before closed_at no longer count.
create table tdk_agent_breakers (
  agent_id text primary key,
  open_until timestamptz,
  trips integer not null default 0 check (trips >= 0),
  closed_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
alter table tdk_agent_breakers enable row level security;
create index tdk_usage_agent_failed_idx on tdk_usage (agent_id, settled_at) where status = 'agent_failed';

-- A Stripe event is claimed (processing) before its handler runs, and processed after it succeeded.
alter table tdk_stripe_events
  add column status text not null default 'processed' check (status in ('processing', 'processed')),
  add column claimed_at timestamptz not null default now();

-- ---------------------------------------------------------------------------------------------
-- Helpers

create or replace function tdk_utc_day_start(p_at timestamptz) returns timestamptz
language sql immutable as $$
  select date_trunc('day', p_at at time zone 'utc') at time zone 'utc'
$$;

-- Spend-limit periods are calendar periods in UTC (weeks start on Monday); `total` never resets.
create or replace function tdk_spend_period_start(p_period tdk_spend_period, p_at timestamptz) returns timestamptz
language sql immutable as $$
  select case p_period
    when 'day' then date_trunc('day', p_at at time zone 'utc') at time zone 'utc'
    when 'week' then date_trunc('week', p_at at time zone 'utc') at time zone 'utc'
    when 'month' then date_trunc('month', p_at at time zone 'utc') at time zone 'utc'
    else '-infinity'::timestamptz
  end
$$;

create or replace function tdk_spend_period_end(p_period tdk_spend_period, p_start timestamptz) returns timestamptz
language sql immutable as $$
  select case p_period
    when 'day' then p_start + interval '1 day'
    when 'week' then p_start + interval '7 days'
    when 'month' then (p_start at time zone 'utc' + interval '1 month') at time zone 'utc'
    else null
  end
$$;

create or replace function tdk_account_json(a tdk_accounts) returns jsonb
language sql stable as $$
  select jsonb_build_object('id', a.id, 'email', a.email, 'tier', a.tier, 'created_at', a.created_at,
    -- The counters belong to ops_month: in a later month nothing has been used yet.
    'ops_this_month', case when a.ops_month = date_trunc('month', now() at time zone 'utc')::date then a.ops_this_month else 0 end,
    'free_spent_micro', case when a.ops_month = date_trunc('month', now() at time zone 'utc')::date then a.free_spent_micro else 0 end,
    'suspended_reason', a.suspended_reason,
    'card_verified', a.card_verified_at is not null,
    'free_allowance', a.free_allowance)
$$;

-- A key as its owner sees it. A key of a suspended account shows as suspended, with the reason.
drop function if exists tdk_api_key_json(tdk_api_keys, tdk_tier);
create or replace function tdk_api_key_json(k tdk_api_keys, a tdk_accounts) returns jsonb
language sql stable as $$
  select jsonb_build_object(
    'id', k.id, 'name', k.name, 'mode', k.mode, 'prefix', k.key_prefix, 'tier', a.tier,
    'status', case when k.status = 'active' and a.suspended_reason is not null then 'suspended'::tdk_key_status else k.status end,
    'suspended_reason', case when k.status = 'active' then a.suspended_reason else k.suspended_reason end,
    'wallet_public_key', k.wallet_public_key,
    'wallet_usdc_micro', k.wallet_usdc_micro, 'wallet_sol_lamports', k.wallet_sol_lamports,
    'wallet_balances_at', k.wallet_balances_at,
    'spend_limit_micro', k.spend_limit_micro,
    'spend_limit_period', k.spend_limit_period,
    'spent_micro', case
       when k.spend_limit_period is null then null
       when k.spend_period_start < tdk_spend_period_start(k.spend_limit_period, now()) then 0
       else k.spent_micro end,
    'spend_resets_at', tdk_spend_period_end(k.spend_limit_period, tdk_spend_period_start(k.spend_limit_period, now())),
    'swept_at', k.swept_at,
    'created_at', k.created_at, 'last_used_at', k.last_used_at, 'revoked_at', k.revoked_at)
$$;

create or replace function tdk_funding_json(f tdk_wallet_fundings) returns jsonb
language sql immutable as $$
  select jsonb_build_object(
    'id', f.id, 'api_key_id', f.api_key_id, 'account_id', f.account_id, 'wallet_public_key', f.wallet_public_key,
    'reason', f.reason, 'usdc_micro', f.usdc_micro, 'sol_lamports', f.sol_lamports, 'overhead_lamports', f.overhead_lamports,
    'tx_signature', f.tx_signature, 'recent_blockhash', f.recent_blockhash, 'last_valid_block_height', f.last_valid_block_height,
    'status', f.status, 'error', f.error, 'created_at', f.created_at, 'resolved_at', f.resolved_at)
$$;

-- ---------------------------------------------------------------------------------------------
-- Accounts and keys

create or replace function tdk_list_api_keys(p_account_id uuid) returns jsonb
language sql stable as $$
  select coalesce(jsonb_agg(tdk_api_key_json(k, a) order by k.created_at desc, k.id), '[]'::jsonb)
  from tdk_api_keys k join tdk_accounts a on a.id = k.account_id
  where k.account_id = p_account_id
$$;

create or replace function tdk_get_api_key(p_account_id uuid, p_key_id uuid) returns jsonb
language sql stable as $$
  select tdk_api_key_json(k, a)
  from tdk_api_keys k join tdk_accounts a on a.id = k.account_id
  where k.id = p_key_id and k.account_id = p_account_id
$$;

create or replace function tdk_revoke_api_key(p_account_id uuid, p_key_id uuid) returns jsonb
language plpgsql as $$
declare
  v tdk_api_keys;
  v_account tdk_accounts;
begin
  update tdk_api_keys
     set status = 'revoked', revoked_at = coalesce(revoked_at, now()), suspended_reason = null
   where id = p_key_id and account_id = p_account_id
  returning * into v;
  if v.id is null then
    return jsonb_build_object('ok', false, 'code', 'not_found');
  end if;
  select * into v_account from tdk_accounts where id = p_account_id;
  return jsonb_build_object('ok', true, 'key', tdk_api_key_json(v, v_account));
end $$;

-- A new key: not for a suspended account, at most p_max_keys active keys, at most p_daily_limit
-- keys created per UTC day (revoked ones included: revoking does not give the slot back).
drop function if exists tdk_create_api_key(uuid, text, tdk_key_mode, text, text, text, text, integer);
create or replace function tdk_create_api_key(
  p_account_id uuid, p_name text, p_mode tdk_key_mode, p_key_hash text, p_key_prefix text,
  p_wallet_public_key text, p_wallet_secret_encrypted text, p_max_keys integer, p_daily_limit integer
) returns jsonb language plpgsql as $$
declare
  v_account tdk_accounts;
  v tdk_api_keys;
  v_day timestamptz := tdk_utc_day_start(now());
begin
  -- Lock the account so two concurrent creations cannot both pass the limits.
  select * into v_account from tdk_accounts where id = p_account_id for update;
  if v_account.id is null then
    return jsonb_build_object('ok', false, 'code', 'account_not_found');
  end if;
  if v_account.suspended_reason is not null then
    return jsonb_build_object('ok', false, 'code', 'account_suspended', 'reason', v_account.suspended_reason);
  end if;
  if (select count(*) from tdk_api_keys where account_id = p_account_id and status <> 'revoked') >= p_max_keys then
    return jsonb_build_object('ok', false, 'code', 'key_limit_reached', 'limit', p_max_keys);
  end if;
  if (select count(*) from tdk_api_keys where account_id = p_account_id and created_at >= v_day) >= p_daily_limit then
    return jsonb_build_object('ok', false, 'code', 'key_daily_limit_reached', 'limit', p_daily_limit, 'retry_at', v_day + interval '1 day');
  end if;
  insert into tdk_api_keys (account_id, name, mode, key_hash, key_prefix, wallet_public_key, wallet_secret_encrypted)
  values (p_account_id, p_name, p_mode, p_key_hash, p_key_prefix, p_wallet_public_key, p_wallet_secret_encrypted)
  returning * into v;
  return jsonb_build_object('ok', true, 'key', tdk_api_key_json(v, v_account));
end $$;

-- API key verification: one lookup on the unique key_hash index, with the account's suspension.
create or replace function tdk_verify_api_key(p_key_hash text) returns jsonb
language sql stable as $$
  select jsonb_build_object(
    'key_id', k.id, 'account_id', k.account_id, 'name', k.name, 'mode', k.mode,
    'prefix', k.key_prefix, 'status', k.status, 'suspended_reason', k.suspended_reason,
    'account_suspended_reason', a.suspended_reason,
    'tier', a.tier, 'wallet_public_key', k.wallet_public_key)
  from tdk_api_keys k join tdk_accounts a on a.id = k.account_id
  where k.key_hash = p_key_hash
$$;

-- Sets (or, with a null limit, clears) a key's spend limit. What the key already spent in the
-- current period counts: it is summed from its calls (reserved or billed, at the developer price).
create or replace function tdk_set_key_spend_limit(p_account_id uuid, p_key_id uuid, p_limit_micro bigint, p_period tdk_spend_period)
returns jsonb language plpgsql as $$
declare
  v tdk_api_keys;
  v_account tdk_accounts;
  v_start timestamptz;
  v_spent bigint;
begin
  select * into v from tdk_api_keys where id = p_key_id and account_id = p_account_id for update;
  if v.id is null then
    return jsonb_build_object('ok', false, 'code', 'not_found');
  end if;
  if v.status = 'revoked' then
    return jsonb_build_object('ok', false, 'code', 'key_revoked');
  end if;
  if p_limit_micro is null then
    update tdk_api_keys set spend_limit_micro = null, spend_limit_period = null, spend_period_start = null, spent_micro = 0
     where id = v.id returning * into v;
  else
    if p_limit_micro <= 0 or p_period is null then
      return jsonb_build_object('ok', false, 'code', 'invalid_limit');
    end if;
    v_start := tdk_spend_period_start(p_period, now());
    select coalesce(sum(developer_cost_micro), 0) into v_spent from tdk_usage
     where api_key_id = v.id and status in ('pending', 'succeeded') and created_at >= v_start;
    update tdk_api_keys set spend_limit_micro = p_limit_micro, spend_limit_period = p_period, spend_period_start = v_start, spent_micro = v_spent
     where id = v.id returning * into v;
  end if;
  select * into v_account from tdk_accounts where id = p_account_id;
  return jsonb_build_object('ok', true, 'key', tdk_api_key_json(v, v_account));
end $$;

-- ---------------------------------------------------------------------------------------------
-- The one funding path

-- USDC, and SOL with what the treasury paid beside it (fees, rent), that left the treasury since
-- p_since towards one key, one account or everyone. Sweeps come back in; failed fundings moved nothing.
create or replace function tdk_funding_outflow_key(p_key_id uuid, p_since timestamptz, out usdc_micro bigint, out sol_lamports bigint)
language sql stable as $$
  select coalesce(sum(f.usdc_micro), 0)::bigint, coalesce(sum(f.sol_lamports + f.overhead_lamports), 0)::bigint
    from tdk_wallet_fundings f
   where f.api_key_id = p_key_id and f.reason <> 'sweep' and f.status <> 'failed' and f.created_at >= p_since
$$;

create or replace function tdk_funding_outflow_account(p_account_id uuid, p_since timestamptz, out usdc_micro bigint, out sol_lamports bigint)
language sql stable as $$
  select coalesce(sum(f.usdc_micro), 0)::bigint, coalesce(sum(f.sol_lamports + f.overhead_lamports), 0)::bigint
    from tdk_wallet_fundings f
   where f.account_id = p_account_id and f.reason <> 'sweep' and f.status <> 'failed' and f.created_at >= p_since
$$;

create or replace function tdk_funding_outflow_treasury(p_since timestamptz, out usdc_micro bigint, out sol_lamports bigint)
language sql stable as $$
  select coalesce(sum(f.usdc_micro), 0)::bigint, coalesce(sum(f.sol_lamports + f.overhead_lamports), 0)::bigint
    from tdk_wallet_fundings f
   where f.reason <> 'sweep' and f.status <> 'failed' and f.created_at >= p_since
$$;

-- Reserves fundings before their transaction is built: every cap is checked and each funding's
-- amounts are fixed here, in one transaction, treasury-wide one decision at a time.
--   p_items: [{ "api_key_id", "reason": "initial" | "topup" | "sweep", "usdc_micro", "sol_lamports",
--               "rent_lamports" (the treasury creates the wallet's USDC account), "fee_lamports" }]
-- Outflows (initial, topup) get what they asked for, cut down to what is left under the caps of the
-- UTC day (key, account by tier, treasury; USDC and SOL, the SOL counting rent and fees), and for a
-- free account to what its monthly allowance can still spend. A funding that was asked for USDC and
-- can get none is refused with the cap that binds. Sweeps (revoked keys back to the treasury) are
-- not capped: they return money. Reserved fundings are `pending` without a signature until
-- tdk_attach_funding_signature; one never signed is resolved failed.
create or replace function tdk_reserve_fundings(p_items jsonb, p_policy jsonb) returns jsonb
language plpgsql as $$
declare
  v_day timestamptz := tdk_utc_day_start(now());
  v_month date := date_trunc('month', now() at time zone 'utc')::date;
  v_item jsonb;
  v_key tdk_api_keys;
  v_account tdk_accounts;
  v_reason tdk_funding_reason;
  v_caps jsonb;
  v_req_usdc bigint;
  v_req_sol bigint;
  v_rent bigint;
  v_fee bigint;
  v_usdc bigint;
  v_sol bigint;
  v_overhead bigint;
  v_usdc_left bigint;
  v_sol_left bigint;
  v_usdc_binding text;
  v_sol_binding text;
  v_used record;
  v_allowance_left bigint;
  v tdk_wallet_fundings;
  v_reserved jsonb := '[]'::jsonb;
  v_refused jsonb := '[]'::jsonb;
begin
  -- One funding decision at a time, treasury-wide: no cap can be raced past.
  perform 1 from tdk_treasury where id = 1 for update;
  for v_item in select * from jsonb_array_elements(p_items) loop
    v_reason := (v_item->>'reason')::tdk_funding_reason;
    v_req_usdc := coalesce((v_item->>'usdc_micro')::bigint, 0);
    v_req_sol := coalesce((v_item->>'sol_lamports')::bigint, 0);
    v_rent := coalesce((v_item->>'rent_lamports')::bigint, 0);
    v_fee := coalesce((v_item->>'fee_lamports')::bigint, 0);
    select * into v_key from tdk_api_keys where id = (v_item->>'api_key_id')::uuid;
    if v_key.id is null or v_req_usdc < 0 or v_req_sol < 0 or v_rent < 0 or v_fee < 0 then
      v_refused := v_refused || jsonb_build_object('api_key_id', v_item->>'api_key_id', 'code', 'invalid_request');
      continue;
    end if;
    if exists (select 1 from tdk_wallet_fundings where api_key_id = v_key.id and status = 'pending') then
      v_refused := v_refused || jsonb_build_object('api_key_id', v_key.id, 'code', 'funding_in_flight');
      continue;
    end if;

    if v_reason = 'sweep' then
      if v_key.status <> 'revoked' or v_key.swept_at is not null then
        v_refused := v_refused || jsonb_build_object('api_key_id', v_key.id, 'code', 'not_sweepable');
        continue;
      end if;
      if exists (select 1 from tdk_usage where api_key_id = v_key.id and status = 'pending') then
        v_refused := v_refused || jsonb_build_object('api_key_id', v_key.id, 'code', 'call_in_flight');
        continue;
      end if;
      if v_req_usdc = 0 and v_req_sol = 0 then
        v_refused := v_refused || jsonb_build_object('api_key_id', v_key.id, 'code', 'not_needed');
        continue;
      end if;
      insert into tdk_wallet_fundings (api_key_id, account_id, wallet_public_key, reason, usdc_micro, sol_lamports, overhead_lamports)
      values (v_key.id, v_key.account_id, v_key.wallet_public_key, 'sweep', v_req_usdc, v_req_sol, v_fee)
      returning * into v;
      v_reserved := v_reserved || tdk_funding_json(v);
      continue;
    end if;

    if v_key.status <> 'active' then
      v_refused := v_refused || jsonb_build_object('api_key_id', v_key.id, 'code', 'key_inactive');
      continue;
    end if;
    select * into v_account from tdk_accounts where id = v_key.account_id;
    if v_account.suspended_reason is not null then
      v_refused := v_refused || jsonb_build_object('api_key_id', v_key.id, 'code', 'account_suspended', 'reason', v_account.suspended_reason);
      continue;
    end if;
    if v_account.tier = 'free' and coalesce((p_policy->>'require_card')::boolean, false) and v_account.card_verified_at is null then
      v_refused := v_refused || jsonb_build_object('api_key_id', v_key.id, 'code', 'card_required');
      continue;
    end if;

    -- What is left today under each cap; the smallest binds.
    v_caps := p_policy->'tiers'->(v_account.tier::text);
    select * into v_used from tdk_funding_outflow_key(v_key.id, v_day);
    v_usdc_left := (v_caps->'key_daily'->>'usdc_micro')::bigint - v_used.usdc_micro;
    v_sol_left := (v_caps->'key_daily'->>'sol_lamports')::bigint - v_used.sol_lamports;
    v_usdc_binding := 'key_cap_reached';
    v_sol_binding := 'key_cap_reached';
    select * into v_used from tdk_funding_outflow_account(v_account.id, v_day);
    if (v_caps->'account_daily'->>'usdc_micro')::bigint - v_used.usdc_micro < v_usdc_left then
      v_usdc_left := (v_caps->'account_daily'->>'usdc_micro')::bigint - v_used.usdc_micro;
      v_usdc_binding := 'account_cap_reached';
    end if;
    if (v_caps->'account_daily'->>'sol_lamports')::bigint - v_used.sol_lamports < v_sol_left then
      v_sol_left := (v_caps->'account_daily'->>'sol_lamports')::bigint - v_used.sol_lamports;
      v_sol_binding := 'account_cap_reached';
    end if;
    select * into v_used from tdk_funding_outflow_treasury(v_day);
    if (p_policy->'treasury_daily'->>'usdc_micro')::bigint - v_used.usdc_micro < v_usdc_left then
      v_usdc_left := (p_policy->'treasury_daily'->>'usdc_micro')::bigint - v_used.usdc_micro;
      v_usdc_binding := 'treasury_cap_reached';
    end if;
    if (p_policy->'treasury_daily'->>'sol_lamports')::bigint - v_used.sol_lamports < v_sol_left then
      v_sol_left := (p_policy->'treasury_daily'->>'sol_lamports')::bigint - v_used.sol_lamports;
      v_sol_binding := 'treasury_cap_reached';
    end if;
    if v_account.tier = 'free' then
      -- A free wallet never holds more than the free allowance can still spend this month.
      v_allowance_left := case when v_account.free_allowance then (p_policy->>'free_allowance_micro')::bigint else 0 end
                          - case when v_account.ops_month = v_month then v_account.free_spent_micro else 0 end;
      if v_allowance_left < v_usdc_left then
        v_usdc_left := v_allowance_left;
        v_usdc_binding := 'free_allowance_exhausted';
      end if;
    end if;

    v_usdc := greatest(least(v_req_usdc, v_usdc_left), 0);
    v_overhead := v_fee + case when v_usdc > 0 then v_rent else 0 end;
    if v_usdc > 0 and v_overhead > v_sol_left then
      -- The USDC account cannot be paid for (rent and fee) under the SOL caps.
      v_usdc := 0;
      v_usdc_binding := v_sol_binding;
      v_overhead := v_fee;
    end if;
    if v_req_usdc > 0 and v_usdc = 0 then
      v_refused := v_refused || jsonb_build_object('api_key_id', v_key.id, 'code', v_usdc_binding,
        'usdc_left_micro', greatest(v_usdc_left, 0), 'sol_left_lamports', greatest(v_sol_left, 0));
      continue;
    end if;
    v_sol := greatest(least(v_req_sol, v_sol_left - v_overhead), 0);
    if v_usdc = 0 and v_sol = 0 then
      v_refused := v_refused || jsonb_build_object('api_key_id', v_key.id, 'code', case when v_req_sol > 0 then v_sol_binding else 'not_needed' end,
        'usdc_left_micro', greatest(v_usdc_left, 0), 'sol_left_lamports', greatest(v_sol_left, 0));
      continue;
    end if;
    insert into tdk_wallet_fundings (api_key_id, account_id, wallet_public_key, reason, usdc_micro, sol_lamports, overhead_lamports)
    values (v_key.id, v_key.account_id, v_key.wallet_public_key, v_reason, v_usdc, v_sol, v_overhead)
    returning * into v;
    v_reserved := v_reserved || tdk_funding_json(v);
  end loop;
  return jsonb_build_object('fundings', v_reserved, 'refused', v_refused);
end $$;

-- The signed transaction of reserved fundings, recorded before it is sent, with the height after
-- which it can no longer land. Each funding's overhead is set to what the transaction really costs
-- the treasury (never above what was reserved).
--   p_fundings: [{ "id", "overhead_lamports" }]
create or replace function tdk_attach_funding_signature(p_fundings jsonb, p_tx_signature text, p_recent_blockhash text, p_last_valid_block_height bigint)
returns jsonb language sql as $$
  with attached as (
    update tdk_wallet_fundings f
       set tx_signature = p_tx_signature, recent_blockhash = p_recent_blockhash, last_valid_block_height = p_last_valid_block_height,
           overhead_lamports = least(f.overhead_lamports, (i.value->>'overhead_lamports')::bigint)
      from jsonb_array_elements(p_fundings) i
     where f.id = (i.value->>'id')::uuid and f.status = 'pending' and f.tx_signature is null
    returning f.id
  )
  select jsonb_build_object('attached', (select count(*) from attached))
$$;

-- Resolves a pending funding once, from what the chain says. A resolved one does not change.
create or replace function tdk_resolve_funding(p_funding_id uuid, p_status tdk_funding_status, p_error text)
returns jsonb language plpgsql as $$
declare
  v tdk_wallet_fundings;
begin
  if p_status = 'pending' then
    return jsonb_build_object('ok', false, 'code', 'invalid_status');
  end if;
  update tdk_wallet_fundings
     set status = p_status, resolved_at = now(), error = case when p_status = 'failed' then p_error end
   where id = p_funding_id and status = 'pending' and (p_status = 'failed' or tx_signature is not null)
  returning * into v;
  if v.id is null then
    select * into v from tdk_wallet_fundings where id = p_funding_id;
    if v.id is null then
      return jsonb_build_object('ok', false, 'code', 'not_found');
    end if;
    return jsonb_build_object('ok', v.status = p_status, 'code', 'already_resolved', 'funding', tdk_funding_json(v));
  end if;
  -- What landed is now in the wallet (or, for a sweep, back in the treasury): the cache follows.
  if p_status = 'confirmed' and v.reason = 'sweep' then
    update tdk_api_keys set swept_at = now(), wallet_usdc_micro = 0, wallet_sol_lamports = 0, wallet_balances_at = now()
     where id = v.api_key_id;
  elsif p_status = 'confirmed' then
    update tdk_api_keys
       set wallet_usdc_micro = wallet_usdc_micro + v.usdc_micro, wallet_sol_lamports = wallet_sol_lamports + v.sol_lamports
     where id = v.api_key_id;
  end if;
  return jsonb_build_object('ok', true, 'funding', tdk_funding_json(v));
end $$;

drop function if exists tdk_record_funding(uuid, tdk_funding_reason, bigint, bigint, text, text);
drop function if exists tdk_record_topups(jsonb, text, text, bigint, bigint);

-- Active keys' wallets for the top-up cron, keyset-paged by id; suspended accounts get nothing.
create or replace function tdk_list_active_wallets(p_after_id uuid, p_limit integer) returns jsonb
language sql stable as $$
  select coalesce(jsonb_agg(jsonb_build_object('key_id', k.id, 'wallet_public_key', k.wallet_public_key) order by k.id), '[]'::jsonb)
  from (select k.id, k.wallet_public_key from tdk_api_keys k join tdk_accounts a on a.id = k.account_id
         where k.status = 'active' and a.suspended_reason is null and (p_after_id is null or k.id > p_after_id)
         order by k.id limit p_limit) k
$$;

-- Revoked keys whose wallets are still to be swept back, keyset-paged by id. A key with a call or a
-- funding still unresolved waits: its wallet may still move.
create or replace function tdk_list_wallets_to_sweep(p_after_id uuid, p_limit integer) returns jsonb
language sql stable as $$
  select coalesce(jsonb_agg(jsonb_build_object('key_id', k.id, 'wallet_public_key', k.wallet_public_key) order by k.id), '[]'::jsonb)
  from (select k.id, k.wallet_public_key from tdk_api_keys k
         where k.status = 'revoked' and k.swept_at is null and (p_after_id is null or k.id > p_after_id)
           and not exists (select 1 from tdk_usage u where u.api_key_id = k.id and u.status = 'pending')
           and not exists (select 1 from tdk_wallet_fundings f where f.api_key_id = k.id and f.status = 'pending')
         order by k.id limit p_limit) k
$$;

-- A revoked wallet that holds nothing to sweep is done without a transaction.
create or replace function tdk_mark_wallet_swept(p_key_id uuid) returns jsonb
language sql as $$
  with updated as (
    update tdk_api_keys k set swept_at = now(), wallet_usdc_micro = 0, wallet_sol_lamports = 0, wallet_balances_at = now()
     where k.id = p_key_id and k.status = 'revoked' and k.swept_at is null
       and not exists (select 1 from tdk_wallet_fundings f where f.api_key_id = k.id and f.status = 'pending')
    returning 1
  )
  select jsonb_build_object('updated', exists (select 1 from updated))
$$;

-- ---------------------------------------------------------------------------------------------
-- The paid call

-- Step 6 of a paid call, all or nothing. In this order: the key is active; a repeated
-- Idempotency-Key returns the first call's row; the account is not suspended; the agent's circuit
-- breaker is closed; free tier: a verified card (Stripe on), the monthly call quota, the monthly
-- allowance in USD; paid tiers: today's failed-after-payment spend plus what is in flight stays
-- under the cap; the key's own spend limit; the wallet's spendable balance. Then a `pending` usage
-- row (the intent) holds the reservation and every counter moves with it.
drop function if exists tdk_reserve_call(uuid, text, text, text, bigint, integer, bigint, integer, text, text);
create or replace function tdk_reserve_call(
  p_key_id uuid, p_request_id text, p_agent_id text, p_agent_name text,
  p_agent_cost_micro bigint, p_markup_bps integer, p_developer_cost_micro bigint,
  p_idempotency_key text, p_request_hash text, p_policy jsonb
) returns jsonb language plpgsql as $$
declare
  v_key tdk_api_keys;
  v_account tdk_accounts;
  v_existing tdk_usage;
  v_usage tdk_usage;
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
  returning * into v_usage;
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

  return jsonb_build_object('ok', true, 'usage', tdk_usage_json(v_usage), 'ops_this_month', v_account.ops_this_month + 1);
end $$;

-- The agent's circuit breaker after a call of it settled. A failure after payment counts; at
-- `failures` within `window_seconds` (since it last closed) the agent is cut off for
-- `cooldown_seconds`. After the cool-down the next failure cuts it off again at once, for twice as
-- long each time (at most a day); the next success closes it.
create or replace function tdk_record_agent_outcome(p_agent_id text, p_failed boolean, p_policy jsonb) returns void
language plpgsql as $$
declare
  v_breaker tdk_agent_breakers;
  v_failures integer;
  v_cooldown interval := make_interval(secs => coalesce((p_policy->'breaker'->>'cooldown_seconds')::integer, 600));
begin
  if not p_failed then
    -- A success after the cool-down closes the breaker; one while it is open (a call admitted
    -- before it opened) does not.
    update tdk_agent_breakers set open_until = null, trips = 0, closed_at = now(), updated_at = now()
     where agent_id = p_agent_id and open_until <= now();
    return;
  end if;
  -- Failures of one agent are counted one at a time, or two could each miss the other's.
  perform pg_advisory_xact_lock(hashtext('tdk_agent_breaker:' || p_agent_id));
  select * into v_breaker from tdk_agent_breakers where agent_id = p_agent_id;
  if v_breaker.open_until is not null then
    if v_breaker.open_until <= now() then
      update tdk_agent_breakers
         set open_until = now() + least(v_cooldown * power(2, least(v_breaker.trips, 16)), interval '1 day'),
             trips = v_breaker.trips + 1, updated_at = now()
       where agent_id = p_agent_id;
    end if;
    return;
  end if;
  select count(*) into v_failures from tdk_usage
   where agent_id = p_agent_id and status = 'agent_failed'
     and settled_at > greatest(now() - make_interval(secs => coalesce((p_policy->'breaker'->>'window_seconds')::integer, 600)),
                               coalesce(v_breaker.closed_at, '-infinity'::timestamptz));
  if v_failures >= coalesce((p_policy->'breaker'->>'failures')::integer, 5) then
    insert into tdk_agent_breakers (agent_id, open_until, trips, closed_at, updated_at)
    values (p_agent_id, now() + v_cooldown, 1, now(), now())
    on conflict (agent_id) do update set open_until = excluded.open_until, trips = 1, updated_at = now();
  end if;
end $$;

-- Agents whose breaker is open now (the catalog marks them not callable).
create or replace function tdk_open_agent_breakers() returns jsonb
language sql stable as $$
  select coalesce(jsonb_agg(jsonb_build_object('agent_id', agent_id, 'open_until', open_until) order by agent_id), '[]'::jsonb)
  from tdk_agent_breakers where open_until > now()
$$;

-- Step 9: a pending row becomes succeeded (paid, billed), agent_failed (paid, not billed) or
-- failed (not paid). Only once. Every counter the reservation moved moves back as the outcome says:
-- the wallet's reservation always; a failed call gives back its quota, allowance and spend; an
-- agent_failed one is not the developer's spend but counts as the account's failed spend today and
-- towards the agent's breaker.
drop function if exists tdk_settle_call(uuid, tdk_usage_status, text, text, text, jsonb);
create or replace function tdk_settle_call(
  p_usage_id uuid, p_status tdk_usage_status, p_tx_signature text, p_receipt_id text, p_error text, p_response jsonb, p_policy jsonb
) returns jsonb language plpgsql as $$
declare
  v tdk_usage;
  v_paid boolean := p_status in ('succeeded', 'agent_failed');
  v_today date := (now() at time zone 'utc')::date;
begin
  if p_status = 'pending' then
    return jsonb_build_object('ok', false, 'code', 'invalid_status');
  end if;
  -- Same lock order as the reservation: key first, then account.
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
         wallet_usdc_micro = case when v_paid then greatest(wallet_usdc_micro - v.agent_cost_micro, 0) else wallet_usdc_micro end,
         -- Not billed to the developer: not their spend (if it was counted in the current period).
         spent_micro = case when p_status <> 'succeeded' and spend_limit_micro is not null and v.created_at >= spend_period_start
                            then greatest(spent_micro - v.developer_cost_micro, 0) else spent_micro end
   where id = v.api_key_id;
  update tdk_accounts a
     set in_flight_micro = greatest(a.in_flight_micro - v.agent_cost_micro, 0),
         ops_this_month = case when not v_paid and a.ops_month = date_trunc('month', v.created_at at time zone 'utc')::date
                               then greatest(a.ops_this_month - 1, 0) else a.ops_this_month end,
         free_spent_micro = case when not v_paid and v.tier = 'free' and a.ops_month = date_trunc('month', v.created_at at time zone 'utc')::date
                                 then greatest(a.free_spent_micro - v.agent_cost_micro, 0) else a.free_spent_micro end,
         agent_failed_micro = case when p_status <> 'agent_failed' then a.agent_failed_micro
                                   when a.agent_failed_day = v_today then a.agent_failed_micro + v.agent_cost_micro
                                   else v.agent_cost_micro end,
         agent_failed_day = case when p_status = 'agent_failed' then v_today else a.agent_failed_day end
   where a.id = v.account_id;
  if v_paid then
    perform tdk_record_agent_outcome(v.agent_id, p_status = 'agent_failed', p_policy);
  end if;
  return jsonb_build_object('ok', true, 'usage', tdk_usage_json(v));
end $$;

-- ---------------------------------------------------------------------------------------------
-- Billing: account suspension, subscriptions in order, card verification, event claims

-- Suspends the customer's account for a reason, or lifts a suspension for that reason.
create or replace function tdk_set_billing_suspension(p_customer_id text, p_reason text, p_suspend boolean)
returns jsonb language plpgsql as $$
declare
  v tdk_accounts;
begin
  if p_suspend then
    update tdk_accounts
       set suspended_reason = coalesce(suspended_reason, p_reason), suspended_at = coalesce(suspended_at, now()), updated_at = now()
     where stripe_customer_id = p_customer_id
    returning * into v;
  else
    update tdk_accounts
       set suspended_reason = case when suspended_reason = p_reason then null else suspended_reason end,
           suspended_at = case when suspended_reason = p_reason then null else suspended_at end,
           updated_at = now()
     where stripe_customer_id = p_customer_id
    returning * into v;
  end if;
  if v.id is null then
    return jsonb_build_object('ok', false, 'code', 'account_not_found');
  end if;
  return jsonb_build_object('ok', true, 'account_id', v.id, 'suspended_reason', v.suspended_reason);
end $$;

-- Applies a subscription's current state (read from Stripe) to its account. The tier follows the
-- status: active/trialing/past_due keep the paid tier, anything else is free. past_due and unpaid
-- suspend the account for a failed payment (only invoice.paid lifts it). A subscription that is not
-- the account's current one changes nothing unless it is live (a new one replacing the old).
create or replace function tdk_apply_subscription(
  p_customer_id text, p_account_id uuid, p_subscription_id text, p_status text, p_tier tdk_tier
) returns jsonb language plpgsql as $$
declare
  v tdk_accounts;
  v_live boolean := p_status in ('active', 'trialing', 'past_due');
  v_tier tdk_tier := case when p_status in ('active', 'trialing', 'past_due') then p_tier else 'free' end;
begin
  select * into v from tdk_accounts
   where (p_account_id is not null and id = p_account_id) or (p_account_id is null and stripe_customer_id = p_customer_id)
   for update;
  if v.id is null then
    return jsonb_build_object('ok', false, 'code', 'account_not_found');
  end if;
  if v.stripe_subscription_id is not null and v.stripe_subscription_id <> p_subscription_id and not v_live then
    return jsonb_build_object('ok', true, 'account_id', v.id, 'tier', v.tier, 'ignored', 'not_current_subscription');
  end if;
  update tdk_accounts
     set stripe_customer_id = coalesce(stripe_customer_id, p_customer_id),
         stripe_subscription_id = case when v_live or p_status not in ('canceled', 'deleted', 'incomplete_expired') then p_subscription_id else null end,
         subscription_status = p_status,
         tier = v_tier,
         suspended_reason = case when p_status in ('past_due', 'unpaid') then coalesce(suspended_reason, 'payment_failed') else suspended_reason end,
         suspended_at = case when p_status in ('past_due', 'unpaid') then coalesce(suspended_at, now()) else suspended_at end,
         updated_at = now()
   where id = v.id
  returning * into v;
  return jsonb_build_object('ok', true, 'account_id', v.id, 'tier', v.tier, 'suspended_reason', v.suspended_reason);
end $$;

create or replace function tdk_get_billing_account(p_account_id uuid) returns jsonb
language sql stable as $$
  select jsonb_build_object('id', a.id, 'email', a.email, 'tier', a.tier, 'stripe_customer_id', a.stripe_customer_id,
    'stripe_subscription_id', a.stripe_subscription_id, 'subscription_status', a.subscription_status,
    'suspended_reason', a.suspended_reason, 'card_verified', a.card_verified_at is not null, 'free_allowance', a.free_allowance)
  from tdk_accounts a where a.id = p_account_id
$$;

-- A card saved through Stripe (setup-mode Checkout, or a subscription's payment method). The first
-- account to verify a card owns its free allowance; another account verifying the same card is
-- verified but gets no free allowance from it (one it already had stays).
create or replace function tdk_record_card_verification(p_account_id uuid, p_fingerprint text) returns jsonb
language plpgsql as $$
declare
  v tdk_accounts;
  v_owner uuid;
begin
  select * into v from tdk_accounts where id = p_account_id for update;
  if v.id is null then
    return jsonb_build_object('ok', false, 'code', 'account_not_found');
  end if;
  insert into tdk_card_fingerprints (fingerprint, account_id) values (p_fingerprint, p_account_id) on conflict (fingerprint) do nothing;
  select account_id into v_owner from tdk_card_fingerprints where fingerprint = p_fingerprint;
  update tdk_accounts
     set free_allowance = (v_owner = p_account_id) or (card_verified_at is not null and free_allowance),
         card_verified_at = coalesce(card_verified_at, now()),
         card_fingerprint = p_fingerprint,
         updated_at = now()
   where id = p_account_id
  returning * into v;
  return jsonb_build_object('ok', true, 'account_id', v.id, 'free_allowance', v.free_allowance, 'card_reused', v_owner <> p_account_id);
end $$;

-- Claims a Stripe event before its handler runs: one delivery runs it, a concurrent one is told it
-- is in progress, a later one that it was processed. A claim left by a crashed run expires.
create or replace function tdk_claim_stripe_event(p_event_id text, p_type text, p_stale_after_seconds integer) returns jsonb
language plpgsql as $$
declare
  v tdk_stripe_events;
begin
  insert into tdk_stripe_events (id, type, status, claimed_at, processed_at)
  values (p_event_id, p_type, 'processing', now(), now())
  on conflict (id) do update set claimed_at = now()
   where tdk_stripe_events.status = 'processing' and tdk_stripe_events.claimed_at < now() - make_interval(secs => p_stale_after_seconds)
  returning * into v;
  if v.id is not null then
    return jsonb_build_object('claimed', true);
  end if;
  select * into v from tdk_stripe_events where id = p_event_id;
  return jsonb_build_object('claimed', false, 'state', case when v.status = 'processed' then 'processed' else 'in_progress' end);
end $$;

-- After the handler: processed, or the claim released so Stripe's next delivery runs it again.
create or replace function tdk_finish_stripe_event(p_event_id text, p_processed boolean) returns jsonb
language plpgsql as $$
begin
  if p_processed then
    update tdk_stripe_events set status = 'processed', processed_at = now() where id = p_event_id;
  else
    delete from tdk_stripe_events where id = p_event_id and status = 'processing';
  end if;
  return jsonb_build_object('ok', true);
end $$;

drop function if exists tdk_stripe_event_processed(text);
drop function if exists tdk_record_stripe_event(text, text);

-- ---------------------------------------------------------------------------------------------
-- Operations

create or replace function tdk_reset_monthly_counters() returns jsonb
language plpgsql as $$
declare
  v_month date := date_trunc('month', now() at time zone 'utc')::date;
  v_count integer;
begin
  update tdk_accounts set ops_this_month = 0, free_spent_micro = 0, ops_month = v_month, updated_at = now() where ops_month < v_month;
  get diagnostics v_count = row_count;
  return jsonb_build_object('month', v_month, 'accounts_reset', v_count);
end $$;

-- Reconciliation input for a period: usage rows, report batches, and every funding (sweeps
-- included) with what the chain should show for it.
create or replace function tdk_reconciliation(p_from timestamptz, p_to timestamptz) returns jsonb
language sql stable as $$
  select jsonb_build_object(
    'usage', (select coalesce(jsonb_agg(jsonb_build_object('id', u.id, 'status', u.status, 'billing_status', u.billing_status,
                'tier', u.tier, 'tx_signature', u.tx_signature, 'agent_cost_micro', u.agent_cost_micro,
                'developer_cost_micro', u.developer_cost_micro, 'batch_id', u.billing_batch_id, 'created_at', u.created_at)
                order by u.created_at, u.id), '[]'::jsonb)
              from tdk_usage u where u.created_at >= p_from and u.created_at < p_to),
    'batches', (select coalesce(jsonb_agg(jsonb_build_object('id', b.id, 'status', b.status, 'stripe_customer_id', b.stripe_customer_id,
                  'total_micro', b.total_micro, 'calls', b.calls,
                  'rows_micro', (select coalesce(sum(u.developer_cost_micro), 0) from tdk_usage u where u.billing_batch_id = b.id),
                  'rows', (select count(*) from tdk_usage u where u.billing_batch_id = b.id)) order by b.created_at, b.id), '[]'::jsonb)
                from tdk_usage_batches b
               where exists (select 1 from tdk_usage u where u.billing_batch_id = b.id and u.created_at >= p_from and u.created_at < p_to)),
    'fundings', (select coalesce(jsonb_agg(jsonb_build_object('id', f.id, 'reason', f.reason, 'status', f.status,
                   'usdc_micro', f.usdc_micro, 'sol_lamports', f.sol_lamports, 'overhead_lamports', f.overhead_lamports,
                   'tx_signature', f.tx_signature, 'wallet_public_key', f.wallet_public_key, 'created_at', f.created_at,
                   'key_swept', k.swept_at is not null) order by f.created_at, f.id), '[]'::jsonb)
                 from tdk_wallet_fundings f join tdk_api_keys k on k.id = f.api_key_id
                where f.created_at >= p_from and f.created_at < p_to))
$$;

select tdk_restrict_functions_to_service_role();
