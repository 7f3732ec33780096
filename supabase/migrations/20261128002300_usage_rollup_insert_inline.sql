-- A new usage row is added to its roll-up by the insert trigger itself (issue 11). The trigger
-- used to call `tdk_usage_daily_apply(new, 1)`: on PostgreSQL 15 (bench section 12, auto_explain),
-- that call took 95 µs of a paid call's 293 µs `tdk_usage` insert, of which the upsert inside it
-- was 33: the rest was calling a PL/pgSQL function with the row as a composite argument. The
-- upsert here is the same statement, word for word, on `new` instead of that argument; updates
-- and deletes keep the shared trigger function (`tdk_usage_daily_trigger`) as before.

create or replace function tdk_usage_daily_insert_trigger() returns trigger
language plpgsql as $$
begin
  insert into tdk_usage_daily as d (account_id, api_key_id, day, agent_id, agent_name, calls, succeeded, failed, agent_failed, pending, agent_cost_micro, developer_cost_micro)
  values (
    new.account_id, new.api_key_id, (new.created_at at time zone 'utc')::date, new.agent_id, new.agent_name, 1,
    (new.status = 'succeeded')::int, (new.status = 'failed')::int, (new.status = 'agent_failed')::int, (new.status = 'pending')::int,
    case when new.status in ('succeeded', 'agent_failed') then new.agent_cost_micro else 0 end,
    case when new.status = 'succeeded' then new.developer_cost_micro else 0 end
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
  return null;
end;
$$;

drop trigger if exists tdk_usage_daily_insert on tdk_usage;
create trigger tdk_usage_daily_insert after insert on tdk_usage
  for each row execute function tdk_usage_daily_insert_trigger();

select tdk_restrict_functions_to_service_role();
