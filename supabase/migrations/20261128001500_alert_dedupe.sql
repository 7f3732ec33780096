-- Alerts are sent once per cause (kind and key: a treasury, an agent, a Stripe event type...) per
-- window: a condition that lasts is repeated at most every window, not on every cron run or call
-- (issue 14, point 3). The claim is atomic, so two instances never both send the same alert.
create table tdk_alert_state (
  kind text not null,
  key text not null,
  last_sent_at timestamptz not null,
  raised integer not null default 1 check (raised > 0),
  primary key (kind, key)
);
alter table tdk_alert_state enable row level security;

create or replace function tdk_claim_alert(p_kind text, p_key text, p_window_seconds integer) returns jsonb
language plpgsql as $$
declare
  v tdk_alert_state;
begin
  insert into tdk_alert_state as s (kind, key, last_sent_at) values (p_kind, p_key, now())
  on conflict (kind, key) do update
    set raised = s.raised + 1,
        last_sent_at = case when s.last_sent_at <= now() - make_interval(secs => p_window_seconds) then now() else s.last_sent_at end
  returning * into v;
  -- Sent now when the row was just written with this transaction's time.
  return jsonb_build_object('send', v.last_sent_at = now(), 'raised', v.raised);
end $$;

select tdk_restrict_functions_to_service_role();
