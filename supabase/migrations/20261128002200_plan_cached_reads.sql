-- The reads behind every API-key request and the usage endpoints, planned once per connection
-- (issue 11). As `language sql` functions, PostgreSQL before 18 parses and plans their bodies on
-- every call. Measured on one PostgreSQL 15 backend (8 keys with 400 settled calls each), a key's
-- verification, a page of its history and its 30-day summary cost 3.31-3.34 ms of the backend's CPU
-- as SQL functions and 1.47-1.51 ms as PL/pgSQL, whose statements are prepared once per
-- connection. The bodies are unchanged, word for word; only the language is. PGlite measured the
-- same either way (2.28 and 2.26 ms a request, wall time, JavaScript included).

create or replace function tdk_verify_api_key(p_key_hash text) returns jsonb
language plpgsql stable as $$
begin
  return (
    select jsonb_build_object(
      'key_id', k.id, 'account_id', k.account_id, 'name', k.name, 'mode', k.mode,
      'prefix', k.key_prefix,
      'status', case when k.key_hash = p_key_hash or k.previous_key_expires_at > now() then k.status else 'revoked'::tdk_key_status end,
      'suspended_reason', k.suspended_reason,
      'account_suspended_reason', a.suspended_reason,
      'tier', a.tier, 'wallet_public_key', k.wallet_public_key,
      'overrides', tdk_account_overrides(a))
    from (
      select * from tdk_api_keys where key_hash = p_key_hash
      union all
      select * from tdk_api_keys where previous_key_hash = p_key_hash and previous_key_hash is not null
    ) k join tdk_accounts a on a.id = k.account_id
    limit 1
  );
end
$$;

create or replace function tdk_usage_history(
  p_account_id uuid, p_key_id uuid, p_before_time timestamptz, p_before_id uuid, p_limit integer,
  p_agent_id text default null, p_status tdk_usage_status default null
) returns jsonb language plpgsql stable as $$
begin
  return (
    select coalesce(jsonb_agg(tdk_usage_json(u) order by u.created_at desc, u.id desc), '[]'::jsonb)
    from (
      select * from tdk_usage
       where account_id = p_account_id
         and (p_key_id is null or api_key_id = p_key_id)
         and (p_agent_id is null or agent_id = p_agent_id)
         and (p_status is null or status = p_status)
         and (p_before_time is null or (created_at, id) < (p_before_time, p_before_id))
       order by created_at desc, id desc
       limit p_limit
    ) u
  );
end
$$;

create or replace function tdk_usage_summary(p_account_id uuid, p_key_id uuid, p_from timestamptz, p_to timestamptz)
returns jsonb language plpgsql stable as $$
begin
  return (
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
  );
end
$$;

select tdk_restrict_functions_to_service_role();
