-- The daily reconcile cron (issue 14, point 4): what it found is kept, one row per difference (its
-- kind and the item it is about), with when it was first and last seen and whether a later run no
-- longer found it. Operators read the open ones; the metrics count them.
create table tdk_reconciliation_differences (
  kind text not null,
  item_id text not null,
  detail text not null,
  first_seen_at timestamptz not null default now(),
  last_seen_at timestamptz not null default now(),
  resolved_at timestamptz,
  primary key (kind, item_id)
);
create index tdk_reconciliation_open_idx on tdk_reconciliation_differences (last_seen_at desc) where resolved_at is null;
alter table tdk_reconciliation_differences enable row level security;

-- One run's findings: new ones inserted, known ones seen again (reopened if they had been resolved),
-- and those of the same kinds the run no longer finds resolved. Answers which ones are new.
create or replace function tdk_record_reconciliation(p_differences jsonb, p_kinds jsonb) returns jsonb
language plpgsql as $$
declare
  v_new jsonb;
begin
  with found as (
    select d->>'kind' as kind, d->>'id' as item_id, d->>'detail' as detail from jsonb_array_elements(p_differences) d
  ), upserted as (
    insert into tdk_reconciliation_differences as r (kind, item_id, detail)
    select kind, item_id, detail from found
    on conflict (kind, item_id) do update
      set detail = excluded.detail, last_seen_at = now(), resolved_at = null
    returning r.kind, r.item_id, (r.first_seen_at = now()) as is_new
  )
  select coalesce(jsonb_agg(jsonb_build_object('kind', kind, 'id', item_id)) filter (where is_new), '[]'::jsonb) into v_new from upserted;
  update tdk_reconciliation_differences r set resolved_at = now()
   where r.resolved_at is null
     and r.kind in (select jsonb_array_elements_text(p_kinds))
     and not exists (select 1 from jsonb_array_elements(p_differences) d where d->>'kind' = r.kind and d->>'id' = r.item_id);
  return jsonb_build_object('new', v_new,
    'open', (select count(*) from tdk_reconciliation_differences where resolved_at is null));
end $$;

create or replace function tdk_open_reconciliation_differences(p_limit integer) returns jsonb
language sql stable as $$
  select coalesce(jsonb_agg(jsonb_build_object('kind', kind, 'id', item_id, 'detail', detail, 'first_seen_at', first_seen_at,
    'last_seen_at', last_seen_at) order by last_seen_at desc), '[]'::jsonb)
  from (select * from tdk_reconciliation_differences where resolved_at is null order by last_seen_at desc limit p_limit) d
$$;

-- What was reported to Stripe per customer in a period: the reported batches whose meter event's
-- timestamp is in it (the value Stripe's meter event summaries must show for that customer).
create or replace function tdk_reported_by_customer(p_from timestamptz, p_to timestamptz) returns jsonb
language sql stable as $$
  select coalesce(jsonb_agg(jsonb_build_object('customer', stripe_customer_id, 'reported_micro', total, 'batches', batches)), '[]'::jsonb)
  from (
    select stripe_customer_id, sum(total_micro) as total, count(*) as batches
      from tdk_usage_batches
     where status = 'reported' and event_timestamp >= p_from and event_timestamp < p_to
     group by stripe_customer_id
  ) b
$$;

-- The treasury's recorded movements: every funding and sweep with a signature that did not fail.
create or replace function tdk_treasury_fundings() returns jsonb
language sql stable as $$
  select coalesce(jsonb_agg(jsonb_build_object('tx_signature', tx_signature, 'reason', reason, 'usdc_micro', usdc_micro)
    order by created_at), '[]'::jsonb)
  from tdk_wallet_fundings where tx_signature is not null and status <> 'failed'
$$;

-- What GET /api/metrics reads from the database at each scrape (issue 14, point 2): the calls by
-- outcome and agent (all time, from the daily roll-ups: no scan of the usage rows), the calls
-- still pending and the oldest one's time, the billable usage not yet reported to Stripe and its
-- oldest call, the circuit breakers open now, the fundings pending, the reconciliation's open differences.
create or replace function tdk_metrics() returns jsonb
language sql stable as $$
  select jsonb_build_object(
    'calls', (select coalesce(jsonb_agg(jsonb_build_object('agent_id', agent_id, 'agent_name', agent_name,
                'succeeded', succeeded, 'failed', failed, 'agent_failed', agent_failed, 'pending', pending,
                'developer_cost_micro', developer_cost_micro, 'agent_cost_micro', agent_cost_micro)), '[]'::jsonb)
              from (select agent_id, max(agent_name) as agent_name, sum(succeeded) as succeeded, sum(failed) as failed,
                           sum(agent_failed) as agent_failed, sum(pending) as pending,
                           sum(developer_cost_micro) as developer_cost_micro, sum(agent_cost_micro) as agent_cost_micro
                      from tdk_usage_daily group by agent_id) d),
    'pending_calls', (select count(*) from tdk_usage where status = 'pending'),
    'oldest_pending_call', (select min(created_at) from tdk_usage where status = 'pending'),
    'unreported_calls', (select count(*) from tdk_usage where billing_status = 'unreported' and status = 'succeeded'),
    'unreported_micro', (select coalesce(sum(developer_cost_micro), 0) from tdk_usage where billing_status = 'unreported' and status = 'succeeded'),
    'oldest_unreported_call', (select min(created_at) from tdk_usage where billing_status = 'unreported' and status = 'succeeded'),
    'pending_fundings', (select count(*) from tdk_wallet_fundings where status = 'pending'),
    'open_breakers', (select count(*) from tdk_agent_breakers where open_until > now()),
    'reconciliation_differences', (select coalesce(jsonb_object_agg(kind, n), '{}'::jsonb)
                                     from (select kind, count(*) as n from tdk_reconciliation_differences
                                            where resolved_at is null group by kind) r))
$$;

select tdk_restrict_functions_to_service_role();
