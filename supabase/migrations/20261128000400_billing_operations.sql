-- Billing (Stripe customers, subscriptions, usage reporting, webhooks) and operations (monthly
-- counters, wallets to top up).

create type tdk_usage_batch_status as enum ('claimed', 'reported', 'flagged');

-- One meter event per customer and batch. The batch id is the meter event's `identifier`: chosen
-- once, when the rows are claimed, so every retry of the batch sends the same identifier and
-- Stripe counts it once.
create table tdk_usage_batches (
  id text primary key check (id ~ '^tdkb_[0-9a-f-]{36}$'),
  account_id uuid not null references tdk_accounts (id) on delete restrict,
  stripe_customer_id text not null,
  total_micro bigint not null check (total_micro >= 0),
  calls integer not null check (calls > 0),
  status tdk_usage_batch_status not null default 'claimed',
  attempts integer not null default 0 check (attempts >= 0),
  error text,
  created_at timestamptz not null default now(),
  reported_at timestamptz,
  constraint tdk_usage_batches_reported_has_time check ((status = 'reported') = (reported_at is not null))
);
create index tdk_usage_batches_open_idx on tdk_usage_batches (created_at) where status = 'claimed';
create index tdk_usage_batch_rows_idx on tdk_usage (billing_batch_id) where billing_batch_id is not null;
alter table tdk_usage
  add constraint tdk_usage_batch_fk foreign key (billing_batch_id) references tdk_usage_batches (id);

-- Stripe webhook events already processed: a replayed delivery is a no-op.
create table tdk_stripe_events (
  id text primary key,
  type text not null,
  processed_at timestamptz not null default now()
);

alter table tdk_accounts add column subscription_status text;
alter table tdk_usage_batches enable row level security;
alter table tdk_stripe_events enable row level security;

-- ---------------------------------------------------------------------------------------------
-- Stripe customers and subscriptions

create or replace function tdk_get_billing_account(p_account_id uuid) returns jsonb
language sql stable as $$
  select jsonb_build_object('id', a.id, 'email', a.email, 'tier', a.tier, 'stripe_customer_id', a.stripe_customer_id,
    'stripe_subscription_id', a.stripe_subscription_id, 'subscription_status', a.subscription_status)
  from tdk_accounts a where a.id = p_account_id
$$;

-- Stores the account's Stripe customer once: a concurrent second creation keeps the first id.
create or replace function tdk_set_stripe_customer(p_account_id uuid, p_customer_id text) returns jsonb
language plpgsql as $$
declare
  v tdk_accounts;
begin
  update tdk_accounts set stripe_customer_id = p_customer_id, updated_at = now()
   where id = p_account_id and stripe_customer_id is null
  returning * into v;
  if v.id is null then
    select * into v from tdk_accounts where id = p_account_id;
  end if;
  return jsonb_build_object('stripe_customer_id', v.stripe_customer_id);
end $$;

-- The tier follows the subscription: active/trialing/past_due keep the paid tier, anything else
-- (canceled, unpaid, incomplete_expired, deleted) is free.
create or replace function tdk_apply_subscription(
  p_customer_id text, p_account_id uuid, p_subscription_id text, p_status text, p_tier tdk_tier
) returns jsonb language plpgsql as $$
declare
  v tdk_accounts;
  v_tier tdk_tier := case when p_status in ('active', 'trialing', 'past_due') then p_tier else 'free' end;
begin
  update tdk_accounts
     set stripe_customer_id = coalesce(stripe_customer_id, p_customer_id),
         stripe_subscription_id = case when v_tier = 'free' and p_status in ('canceled', 'deleted') then null else p_subscription_id end,
         subscription_status = p_status,
         tier = v_tier,
         updated_at = now()
   where (p_account_id is not null and id = p_account_id) or (p_account_id is null and stripe_customer_id = p_customer_id)
  returning * into v;
  if v.id is null then
    return jsonb_build_object('ok', false, 'code', 'account_not_found');
  end if;
  return jsonb_build_object('ok', true, 'account_id', v.id, 'tier', v.tier);
end $$;

-- Suspends every active key of the customer's account for a reason, or lifts that suspension.
create or replace function tdk_set_billing_suspension(p_customer_id text, p_reason text, p_suspend boolean)
returns jsonb language plpgsql as $$
declare
  v_account uuid;
  v_count integer;
begin
  select id into v_account from tdk_accounts where stripe_customer_id = p_customer_id;
  if v_account is null then
    return jsonb_build_object('ok', false, 'code', 'account_not_found');
  end if;
  if p_suspend then
    update tdk_api_keys set status = 'suspended', suspended_reason = p_reason
     where account_id = v_account and status = 'active';
  else
    update tdk_api_keys set status = 'active', suspended_reason = null
     where account_id = v_account and status = 'suspended' and suspended_reason = p_reason;
  end if;
  get diagnostics v_count = row_count;
  return jsonb_build_object('ok', true, 'account_id', v_account, 'keys', v_count);
end $$;

-- Keeps the invoice's billing period current (invoice.finalized / paid / payment_failed).
create or replace function tdk_upsert_billing_period(
  p_customer_id text, p_invoice_id text, p_subscription_id text, p_period_start timestamptz, p_period_end timestamptz,
  p_status tdk_period_status, p_total_cost_micro bigint
) returns jsonb language plpgsql as $$
declare
  v_account uuid;
  v tdk_billing_periods;
  v_operations integer;
begin
  select id into v_account from tdk_accounts where stripe_customer_id = p_customer_id;
  if v_account is null then
    return jsonb_build_object('ok', false, 'code', 'account_not_found');
  end if;
  select count(*) into v_operations from tdk_usage
   where account_id = v_account and status = 'succeeded' and created_at >= p_period_start and created_at < p_period_end;
  insert into tdk_billing_periods (account_id, period_start, period_end, total_operations, total_cost_micro,
                                   stripe_invoice_id, stripe_subscription_id, status, paid_at)
  values (v_account, p_period_start, p_period_end, v_operations, p_total_cost_micro, p_invoice_id, p_subscription_id,
          p_status, case when p_status = 'paid' then now() end)
  on conflict (stripe_invoice_id) do update
    set status = case when tdk_billing_periods.status = 'paid' then 'paid'::tdk_period_status else excluded.status end,
        paid_at = case when tdk_billing_periods.status = 'paid' then tdk_billing_periods.paid_at else excluded.paid_at end,
        total_cost_micro = excluded.total_cost_micro,
        total_operations = excluded.total_operations,
        updated_at = now()
  returning * into v;
  return jsonb_build_object('ok', true, 'account_id', v_account, 'status', v.status);
end $$;

create or replace function tdk_list_billing_periods(p_account_id uuid) returns jsonb
language sql stable as $$
  select coalesce(jsonb_agg(jsonb_build_object('stripe_invoice_id', p.stripe_invoice_id, 'status', p.status,
    'period_start', p.period_start, 'period_end', p.period_end, 'total_operations', p.total_operations,
    'total_cost_micro', p.total_cost_micro, 'paid_at', p.paid_at) order by p.period_start, p.stripe_invoice_id), '[]'::jsonb)
  from tdk_billing_periods p where p.account_id = p_account_id
$$;

create or replace function tdk_stripe_event_processed(p_event_id text) returns jsonb
language sql stable as $$
  select jsonb_build_object('processed', exists (select 1 from tdk_stripe_events where id = p_event_id))
$$;

create or replace function tdk_record_stripe_event(p_event_id text, p_type text) returns jsonb
language sql as $$
  with inserted as (
    insert into tdk_stripe_events (id, type) values (p_event_id, p_type) on conflict (id) do nothing returning 1
  )
  select jsonb_build_object('recorded', exists (select 1 from inserted))
$$;

-- ---------------------------------------------------------------------------------------------
-- Usage reporting

create or replace function tdk_usage_batch_json(b tdk_usage_batches) returns jsonb
language sql immutable as $$
  select jsonb_build_object('id', b.id, 'account_id', b.account_id, 'stripe_customer_id', b.stripe_customer_id,
    'total_micro', b.total_micro, 'calls', b.calls, 'status', b.status, 'attempts', b.attempts, 'error', b.error,
    'created_at', b.created_at, 'reported_at', b.reported_at)
$$;

-- Claims settled, unreported usage for reporting and returns every open batch (new ones and those
-- a crashed or failed run left). Usage of the free tier is marked not billable; usage older than
-- Stripe accepts (p_max_age) is flagged for an operator instead of being sent.
create or replace function tdk_claim_usage_batches(p_max_age interval) returns jsonb
language plpgsql as $$
declare
  v_account record;
  v_batch_id text;
  v_total bigint;
  v_calls integer;
  v_flagged integer;
  v_free integer;
begin
  -- One claim at a time: two overlapping cron runs must not batch the same rows twice.
  perform pg_advisory_xact_lock(hashtext('tdk_claim_usage_batches'));
  update tdk_usage set billing_status = 'not_billable'
   where billing_status = 'unreported' and status = 'succeeded' and tier = 'free';
  get diagnostics v_free = row_count;
  update tdk_usage set billing_status = 'flagged'
   where billing_status = 'unreported' and status = 'succeeded' and created_at < now() - p_max_age;
  get diagnostics v_flagged = row_count;

  for v_account in
    select u.account_id, a.stripe_customer_id
      from tdk_usage u join tdk_accounts a on a.id = u.account_id
     where u.billing_status = 'unreported' and u.status = 'succeeded' and a.stripe_customer_id is not null
     group by u.account_id, a.stripe_customer_id
     order by u.account_id
  loop
    v_batch_id := 'tdkb_' || gen_random_uuid();
    insert into tdk_usage_batches (id, account_id, stripe_customer_id, total_micro, calls)
    values (v_batch_id, v_account.account_id, v_account.stripe_customer_id, 0, 1);
    -- The batch's value is the sum of the rows this statement actually claimed, nothing else.
    with claimed as (
      update tdk_usage set billing_status = 'claimed', billing_batch_id = v_batch_id
       where account_id = v_account.account_id and billing_status = 'unreported' and status = 'succeeded'
      returning developer_cost_micro
    )
    select coalesce(sum(developer_cost_micro), 0), count(*) into v_total, v_calls from claimed;
    if v_calls = 0 then
      delete from tdk_usage_batches where id = v_batch_id;
    else
      update tdk_usage_batches set total_micro = v_total, calls = v_calls where id = v_batch_id;
    end if;
  end loop;

  return jsonb_build_object(
    'not_billable', v_free,
    'flagged', v_flagged,
    'batches', (select coalesce(jsonb_agg(tdk_usage_batch_json(b) order by b.created_at, b.id), '[]'::jsonb)
                  from tdk_usage_batches b where b.status = 'claimed'));
end $$;

-- After Stripe accepted the batch's meter event: its rows are reported. Idempotent.
create or replace function tdk_complete_usage_batch(p_batch_id text) returns jsonb
language plpgsql as $$
declare
  v tdk_usage_batches;
begin
  update tdk_usage_batches set status = 'reported', reported_at = now(), attempts = attempts + 1, error = null
   where id = p_batch_id and status = 'claimed'
  returning * into v;
  if v.id is null then
    return jsonb_build_object('ok', false, 'code', 'not_open');
  end if;
  update tdk_usage set billing_status = 'reported' where billing_batch_id = p_batch_id;
  return jsonb_build_object('ok', true, 'batch', tdk_usage_batch_json(v));
end $$;

-- A failed attempt (the batch stays open for the next run), or a batch flagged for an operator.
create or replace function tdk_fail_usage_batch(p_batch_id text, p_error text, p_flag boolean) returns jsonb
language plpgsql as $$
declare
  v tdk_usage_batches;
begin
  update tdk_usage_batches
     set attempts = attempts + 1, error = p_error, status = case when p_flag then 'flagged'::tdk_usage_batch_status else status end
   where id = p_batch_id and status = 'claimed'
  returning * into v;
  if v.id is null then
    return jsonb_build_object('ok', false, 'code', 'not_open');
  end if;
  if p_flag then
    update tdk_usage set billing_status = 'flagged' where billing_batch_id = p_batch_id;
  end if;
  return jsonb_build_object('ok', true, 'batch', tdk_usage_batch_json(v));
end $$;

-- Reconciliation input for a period: every usage row with its payment and billing state, and the
-- report batches with the sum of their rows.
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
               where exists (select 1 from tdk_usage u where u.billing_batch_id = b.id and u.created_at >= p_from and u.created_at < p_to)))
$$;

-- ---------------------------------------------------------------------------------------------
-- Operations

-- Monthly counters back to zero at the month boundary (UTC). Idempotent: a second run in the
-- same month finds nothing to reset.
create or replace function tdk_reset_monthly_counters() returns jsonb
language plpgsql as $$
declare
  v_month date := date_trunc('month', now() at time zone 'utc')::date;
  v_count integer;
begin
  update tdk_accounts set ops_this_month = 0, ops_month = v_month, updated_at = now() where ops_month < v_month;
  get diagnostics v_count = row_count;
  return jsonb_build_object('month', v_month, 'accounts_reset', v_count);
end $$;

-- Active keys' wallets, keyset-paged by id, for the top-up cron.
create or replace function tdk_list_active_wallets(p_after_id uuid, p_limit integer) returns jsonb
language sql stable as $$
  select coalesce(jsonb_agg(jsonb_build_object('key_id', k.id, 'wallet_public_key', k.wallet_public_key) order by k.id), '[]'::jsonb)
  from (select id, wallet_public_key from tdk_api_keys
         where status = 'active' and (p_after_id is null or id > p_after_id) order by id limit p_limit) k
$$;

-- Wallet secrets page by page, for the key rotation script (ciphertext only, never decrypted here).
create or replace function tdk_list_wallet_secrets(p_after_id uuid, p_limit integer) returns jsonb
language sql stable as $$
  select coalesce(jsonb_agg(jsonb_build_object('key_id', k.id, 'public_key', k.wallet_public_key,
    'secret_encrypted', k.wallet_secret_encrypted) order by k.id), '[]'::jsonb)
  from (select id, wallet_public_key, wallet_secret_encrypted from tdk_api_keys
         where p_after_id is null or id > p_after_id order by id limit p_limit) k
$$;

create or replace function tdk_reencrypt_treasury_secret(p_old text, p_new text) returns jsonb
language sql as $$
  with updated as (
    update tdk_treasury set secret_encrypted = p_new, updated_at = now() where id = 1 and secret_encrypted = p_old returning 1
  )
  select jsonb_build_object('updated', exists (select 1 from updated))
$$;

select tdk_restrict_functions_to_service_role();
