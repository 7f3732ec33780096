-- Scale (issue 11): usage summaries from daily roll-ups, and the sweep cron's empty wallets marked
-- a page at a time.

-- ---------------------------------------------------------------------------------------------
-- Daily roll-ups of usage, per account, key, UTC day (of created_at) and agent: what the usage
-- summaries read for whole days instead of scanning every row (an account with 1,000,000 rows).
-- Kept by a trigger on tdk_usage, so every writer (the call pipeline, recovery, operators' SQL)
-- keeps them right: a row's contribution is removed as it was and added as it is.

create table tdk_usage_daily (
  account_id uuid not null references tdk_accounts (id) on delete restrict,
  api_key_id uuid not null references tdk_api_keys (id) on delete restrict,
  day date not null,
  agent_id text not null,
  agent_name text,
  calls bigint not null default 0 check (calls >= 0),
  succeeded bigint not null default 0 check (succeeded >= 0),
  failed bigint not null default 0 check (failed >= 0),
  agent_failed bigint not null default 0 check (agent_failed >= 0),
  pending bigint not null default 0 check (pending >= 0),
  -- As the summaries count them: agent cost of paid calls (succeeded, agent_failed), developer cost of billed ones (succeeded).
  agent_cost_micro bigint not null default 0 check (agent_cost_micro >= 0),
  developer_cost_micro bigint not null default 0 check (developer_cost_micro >= 0),
  primary key (account_id, day, api_key_id, agent_id)
);
create index tdk_usage_daily_key_idx on tdk_usage_daily (api_key_id, day);
alter table tdk_usage_daily enable row level security;

-- A row's contribution to its roll-up: added (p_sign 1) or removed (p_sign -1; its roll-up exists,
-- as the row was added to it: removal is an update, so the checks hold on every stored value).
-- The roll-up's agent_name is the greatest of its rows' (as the summaries always showed it); when
-- a named row leaves its roll-up (deleted, moved, renamed: never on the hot path), it is read again
-- from the rows that remain.
create or replace function tdk_usage_daily_apply(u tdk_usage, p_sign integer, p_rename boolean default false) returns void
language plpgsql as $$
declare
  v_day date := (u.created_at at time zone 'utc')::date;
  v_agent_cost bigint := case when u.status in ('succeeded', 'agent_failed') then u.agent_cost_micro else 0 end;
  v_developer_cost bigint := case when u.status = 'succeeded' then u.developer_cost_micro else 0 end;
begin
  if p_sign < 0 then
    update tdk_usage_daily d set
      calls = d.calls - 1,
      succeeded = d.succeeded - (u.status = 'succeeded')::int,
      failed = d.failed - (u.status = 'failed')::int,
      agent_failed = d.agent_failed - (u.status = 'agent_failed')::int,
      pending = d.pending - (u.status = 'pending')::int,
      agent_cost_micro = d.agent_cost_micro - v_agent_cost,
      developer_cost_micro = d.developer_cost_micro - v_developer_cost,
      agent_name = case when p_rename and u.agent_name is not null then (
        select max(r.agent_name) from tdk_usage r
         where r.api_key_id = u.api_key_id and r.agent_id = u.agent_id
           and r.created_at >= (v_day::timestamp at time zone 'utc') and r.created_at < ((v_day + 1)::timestamp at time zone 'utc')
      ) else d.agent_name end
     where d.account_id = u.account_id and d.day = v_day and d.api_key_id = u.api_key_id and d.agent_id = u.agent_id;
    return;
  end if;
  insert into tdk_usage_daily as d (account_id, api_key_id, day, agent_id, agent_name, calls, succeeded, failed, agent_failed, pending, agent_cost_micro, developer_cost_micro)
  values (
    u.account_id, u.api_key_id, v_day, u.agent_id, u.agent_name, 1,
    (u.status = 'succeeded')::int, (u.status = 'failed')::int, (u.status = 'agent_failed')::int, (u.status = 'pending')::int,
    v_agent_cost, v_developer_cost
  )
  on conflict (account_id, day, api_key_id, agent_id) do update set
    agent_name = greatest(excluded.agent_name, d.agent_name),
    calls = d.calls + 1,
    succeeded = d.succeeded + excluded.succeeded,
    failed = d.failed + excluded.failed,
    agent_failed = d.agent_failed + excluded.agent_failed,
    pending = d.pending + excluded.pending,
    agent_cost_micro = d.agent_cost_micro + excluded.agent_cost_micro,
    developer_cost_micro = d.developer_cost_micro + excluded.developer_cost_micro;
end;
$$;

create or replace function tdk_usage_daily_trigger() returns trigger
language plpgsql as $$
begin
  if tg_op = 'DELETE' then perform tdk_usage_daily_apply(old, -1, true); end if;
  if tg_op = 'UPDATE' then
    -- A settle changes only the status: the roll-up keeps its name without reading the rows.
    perform tdk_usage_daily_apply(old, -1,
      (old.account_id, old.api_key_id, old.agent_id, old.agent_name, (old.created_at at time zone 'utc')::date)
      is distinct from (new.account_id, new.api_key_id, new.agent_id, new.agent_name, (new.created_at at time zone 'utc')::date));
  end if;
  if tg_op in ('INSERT', 'UPDATE') then perform tdk_usage_daily_apply(new, 1); end if;
  return null;
end;
$$;

create trigger tdk_usage_daily_insert after insert on tdk_usage
  for each row execute function tdk_usage_daily_trigger();
-- Only the columns a roll-up counts: recording a signature or an answer costs the hot path nothing here.
create trigger tdk_usage_daily_update after update on tdk_usage
  for each row when (
    (old.status, old.created_at, old.account_id, old.api_key_id, old.agent_id, old.agent_name, old.agent_cost_micro, old.developer_cost_micro)
    is distinct from
    (new.status, new.created_at, new.account_id, new.api_key_id, new.agent_id, new.agent_name, new.agent_cost_micro, new.developer_cost_micro)
  ) execute function tdk_usage_daily_trigger();
create trigger tdk_usage_daily_delete after delete on tdk_usage
  for each row execute function tdk_usage_daily_trigger();

-- The usage recorded before this migration.
insert into tdk_usage_daily (account_id, api_key_id, day, agent_id, agent_name, calls, succeeded, failed, agent_failed, pending, agent_cost_micro, developer_cost_micro)
select account_id, api_key_id, (created_at at time zone 'utc')::date, agent_id, max(agent_name), count(*),
       count(*) filter (where status = 'succeeded'), count(*) filter (where status = 'failed'),
       count(*) filter (where status = 'agent_failed'), count(*) filter (where status = 'pending'),
       coalesce(sum(agent_cost_micro) filter (where status in ('succeeded', 'agent_failed')), 0),
       coalesce(sum(developer_cost_micro) filter (where status = 'succeeded'), 0)
  from tdk_usage group by 1, 2, 3, 4;

-- Totals over [p_from, p_to), as before: whole UTC days inside the range from the roll-ups, the
-- partial days at its ends from the rows themselves.
create or replace function tdk_usage_summary(p_account_id uuid, p_key_id uuid, p_from timestamptz, p_to timestamptz)
returns jsonb language sql stable as $$
  with bounds as (
    -- First and last+1 whole days inside the range (UTC); an empty span when there is none.
    select (date_trunc('day', p_from at time zone 'utc') + case when date_trunc('day', p_from at time zone 'utc') = p_from at time zone 'utc' then interval '0' else interval '1 day' end)::date as first_day,
           date_trunc('day', p_to at time zone 'utc')::date as end_day
  ),
  whole as (
    select d.day, d.agent_id, d.agent_name, d.calls, d.succeeded, d.failed, d.agent_failed, d.pending, d.agent_cost_micro as agent_cost, d.developer_cost_micro as developer_cost
      from tdk_usage_daily d, bounds b
     where d.account_id = p_account_id and (p_key_id is null or d.api_key_id = p_key_id)
       and b.first_day < b.end_day and d.day >= b.first_day and d.day < b.end_day
  ),
  -- The partial days: [p_from, first whole day) and [end of the whole days, p_to), or the whole
  -- range when it holds no whole day. Each arm is one index range on (account_id, created_at)
  -- whose bounds are expressions of the parameters: only the edge rows are read.
  partial as (
    select (u.created_at at time zone 'utc')::date as day, u.agent_id, u.agent_name, 1::bigint as calls,
           (u.status = 'succeeded')::int::bigint as succeeded, (u.status = 'failed')::int::bigint as failed,
           (u.status = 'agent_failed')::int::bigint as agent_failed, (u.status = 'pending')::int::bigint as pending,
           case when u.status in ('succeeded', 'agent_failed') then u.agent_cost_micro else 0 end as agent_cost,
           case when u.status = 'succeeded' then u.developer_cost_micro else 0 end as developer_cost
      from tdk_usage u
     where u.account_id = p_account_id and (p_key_id is null or u.api_key_id = p_key_id)
       and u.created_at >= p_from
       and u.created_at < (select case when b.first_day < b.end_day then (b.first_day::timestamp at time zone 'utc') else p_to end from bounds b)
    union all
    select (u.created_at at time zone 'utc')::date, u.agent_id, u.agent_name, 1::bigint,
           (u.status = 'succeeded')::int::bigint, (u.status = 'failed')::int::bigint,
           (u.status = 'agent_failed')::int::bigint, (u.status = 'pending')::int::bigint,
           case when u.status in ('succeeded', 'agent_failed') then u.agent_cost_micro else 0 end,
           case when u.status = 'succeeded' then u.developer_cost_micro else 0 end
      from tdk_usage u
     where u.account_id = p_account_id and (p_key_id is null or u.api_key_id = p_key_id)
       and u.created_at >= (select case when b.first_day < b.end_day then (b.end_day::timestamp at time zone 'utc') else p_to end from bounds b)
       and u.created_at < p_to
  ),
  rows as (select * from whole union all select * from partial),
  by_day_agent as (
    select day, agent_id, max(agent_name) as agent_name, sum(calls) as calls, sum(succeeded) as succeeded, sum(failed) as failed,
           sum(agent_failed) as agent_failed, sum(pending) as pending, sum(agent_cost) as agent_cost, sum(developer_cost) as developer_cost
      from rows group by 1, 2 having sum(calls) > 0
  ),
  by_agent as (
    select agent_id, max(agent_name) as agent_name, sum(calls) as calls, sum(agent_cost) as agent_cost, sum(developer_cost) as developer_cost
      from by_day_agent group by agent_id
  ),
  by_day as (
    select day, sum(calls) as calls, sum(agent_cost) as agent_cost, sum(developer_cost) as developer_cost from by_day_agent group by day
  ),
  totals as (
    select coalesce(sum(calls), 0) as calls, coalesce(sum(succeeded), 0) as succeeded, coalesce(sum(failed), 0) as failed,
           coalesce(sum(agent_failed), 0) as agent_failed, coalesce(sum(pending), 0) as pending,
           coalesce(sum(agent_cost), 0) as agent_cost, coalesce(sum(developer_cost), 0) as developer_cost
      from by_day_agent
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

-- ---------------------------------------------------------------------------------------------
-- The sweep cron marks a page's empty wallets swept in one statement (it read them empty on the
-- chain), with the same conditions as tdk_mark_wallet_swept: revoked, not yet swept, no funding
-- in flight. p_key_ids: a JSON array of key ids. Returns how many it marked. Replaces the
-- one-key-at-a-time tdk_mark_wallet_swept.
create or replace function tdk_mark_wallets_swept(p_key_ids jsonb) returns jsonb
language sql as $$
  with updated as (
    update tdk_api_keys k set swept_at = now(), wallet_usdc_micro = 0, wallet_sol_lamports = 0, wallet_balances_at = now()
     where k.id in (select value::uuid from jsonb_array_elements_text(p_key_ids)) and k.status = 'revoked' and k.swept_at is null
       and not exists (select 1 from tdk_wallet_fundings f where f.api_key_id = k.id and f.status = 'pending')
    returning 1
  )
  select jsonb_build_object('updated', (select count(*) from updated))
$$;

drop function tdk_mark_wallet_swept(uuid);
