-- What GET /api/metrics reads from the database at each scrape (issue 14, point 2): the calls by
-- outcome and agent (all time, from the daily roll-ups: no scan of the usage rows), the calls
-- still pending and the oldest one's time, the billable usage not yet reported to Stripe and its
-- oldest call, the circuit breakers open now, the fundings pending.
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
    'open_breakers', (select count(*) from tdk_agent_breakers where open_until > now()))
$$;

select tdk_restrict_functions_to_service_role();
