-- Stripe bills a meter event in the billing period its *timestamp* falls in, not when it arrives.
-- A batch sent at 00:10 on the 1st with the claim time as its timestamp billed the last calls of
-- the month before in the new month. Batches are now one per customer and UTC hour of the calls,
-- timestamped with their latest call, so usage lands in the period it belongs to (at worst, the
-- calls of the hour in which a period changes, made before the change, land in the next period:
-- late, never lost, never twice).
--
-- A batch whose timestamp falls in a period whose invoice is already finalized (Stripe's grace
-- period after the period's end, 1 hour by default, has passed) would be accepted by Stripe and
-- billed on no invoice: it is flagged for an operator instead of being sent.

alter table tdk_usage_batches add column event_timestamp timestamptz;

create or replace function tdk_usage_batch_json(b tdk_usage_batches) returns jsonb
language sql stable as $$
  select jsonb_build_object('id', b.id, 'account_id', b.account_id, 'stripe_customer_id', b.stripe_customer_id,
    'total_micro', b.total_micro, 'calls', b.calls, 'status', b.status, 'attempts', b.attempts, 'error', b.error,
    'created_at', b.created_at, 'reported_at', b.reported_at,
    'event_timestamp', coalesce(b.event_timestamp, b.created_at),
    'missed_invoice', exists (
      select 1 from tdk_billing_periods p
       where p.account_id = b.account_id and p.status <> 'draft'
         and p.period_start <= coalesce(b.event_timestamp, b.created_at) and coalesce(b.event_timestamp, b.created_at) < p.period_end))
$$;

create or replace function tdk_claim_usage_batches(p_max_age interval) returns jsonb
language plpgsql as $$
declare
  v_bucket record;
  v_batch_id text;
  v_total bigint;
  v_calls integer;
  v_latest timestamptz;
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

  for v_bucket in
    select u.account_id, a.stripe_customer_id, date_trunc('hour', u.created_at, 'UTC') as hour
      from tdk_usage u join tdk_accounts a on a.id = u.account_id
     where u.billing_status = 'unreported' and u.status = 'succeeded' and a.stripe_customer_id is not null
     group by u.account_id, a.stripe_customer_id, date_trunc('hour', u.created_at, 'UTC')
     order by u.account_id, hour
  loop
    v_batch_id := 'tdkb_' || gen_random_uuid();
    insert into tdk_usage_batches (id, account_id, stripe_customer_id, total_micro, calls, event_timestamp)
    values (v_batch_id, v_bucket.account_id, v_bucket.stripe_customer_id, 0, 1, v_bucket.hour);
    -- The batch's value is the sum of the rows this statement actually claimed, nothing else.
    with claimed as (
      update tdk_usage set billing_status = 'claimed', billing_batch_id = v_batch_id
       where account_id = v_bucket.account_id and billing_status = 'unreported' and status = 'succeeded'
         and created_at >= v_bucket.hour and created_at < v_bucket.hour + interval '1 hour'
      returning developer_cost_micro, created_at
    )
    select coalesce(sum(developer_cost_micro), 0), count(*), max(created_at) into v_total, v_calls, v_latest from claimed;
    if v_calls = 0 then
      delete from tdk_usage_batches where id = v_batch_id;
    else
      update tdk_usage_batches set total_micro = v_total, calls = v_calls, event_timestamp = v_latest where id = v_batch_id;
    end if;
  end loop;

  return jsonb_build_object(
    'not_billable', v_free,
    'flagged', v_flagged,
    'batches', (select coalesce(jsonb_agg(tdk_usage_batch_json(b) order by b.created_at, b.event_timestamp, b.id), '[]'::jsonb)
                  from tdk_usage_batches b where b.status = 'claimed'));
end $$;

select tdk_restrict_functions_to_service_role();
