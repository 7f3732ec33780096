-- A paid call's writes, leaner (issue 11: the embedded default's database thread is 43% of a paid
-- call's CPU, and its SQL functions the most of that). What is stored and what is refused do not change:
--  - `tdk_record_call_payment` and `tdk_settle_call` answer `{"ok": true}` on success instead of the
--    whole usage row as JSON: no caller read it, and a settled row carries the call's answer
--    (`response`, the agent's output), built as JSON, sent to the gateway and parsed there for nothing.
--    Their refusals (`duplicate_signature`, `not_pending`, `already_settled`...) answer as before.
--  - A settlement moves its row's roll-up from the old status to the new in one UPDATE, instead of
--    taking the row out of its roll-up and adding it back (two statements, each a call of
--    `tdk_usage_daily_apply` with the row as its argument). Any other change of a row goes the old way.

create or replace function tdk_record_call_payment(
  p_usage_id uuid, p_payment_intent_id text, p_tx_signature text, p_recent_blockhash text, p_last_valid_block_height bigint
) returns jsonb language plpgsql as $$
declare
  v tdk_usage;
begin
  -- Two identical payments have one signature and only one can land: refuse the second.
  if exists (select 1 from tdk_usage where tx_signature = p_tx_signature) then
    return jsonb_build_object('ok', false, 'code', 'duplicate_signature');
  end if;
  update tdk_usage
     set payment_intent_id = p_payment_intent_id, tx_signature = p_tx_signature, recent_blockhash = p_recent_blockhash,
         last_valid_block_height = p_last_valid_block_height
   where id = p_usage_id and status = 'pending' and tx_signature is null
  returning * into v;
  if v.id is null then
    return jsonb_build_object('ok', false, 'code', 'not_pending');
  end if;
  return jsonb_build_object('ok', true);
end $$;

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
  return jsonb_build_object('ok', true);
end $$;

create or replace function tdk_usage_daily_trigger() returns trigger
language plpgsql as $$
begin
  if tg_op = 'UPDATE'
     and (old.account_id, old.api_key_id, old.agent_id, old.agent_name, (old.created_at at time zone 'utc')::date)
         is not distinct from (new.account_id, new.api_key_id, new.agent_id, new.agent_name, (new.created_at at time zone 'utc')::date) then
    -- Same roll-up (a settlement): its counts move from the old status and costs to the new ones.
    update tdk_usage_daily d set
      succeeded = d.succeeded + (new.status = 'succeeded')::int - (old.status = 'succeeded')::int,
      failed = d.failed + (new.status = 'failed')::int - (old.status = 'failed')::int,
      agent_failed = d.agent_failed + (new.status = 'agent_failed')::int - (old.status = 'agent_failed')::int,
      pending = d.pending + (new.status = 'pending')::int - (old.status = 'pending')::int,
      agent_cost_micro = d.agent_cost_micro
        + case when new.status in ('succeeded', 'agent_failed') then new.agent_cost_micro else 0 end
        - case when old.status in ('succeeded', 'agent_failed') then old.agent_cost_micro else 0 end,
      developer_cost_micro = d.developer_cost_micro
        + case when new.status = 'succeeded' then new.developer_cost_micro else 0 end
        - case when old.status = 'succeeded' then old.developer_cost_micro else 0 end
     where d.account_id = new.account_id and d.day = (new.created_at at time zone 'utc')::date
       and d.api_key_id = new.api_key_id and d.agent_id = new.agent_id;
    return null;
  end if;
  if tg_op = 'DELETE' then perform tdk_usage_daily_apply(old, -1, true); end if;
  if tg_op = 'UPDATE' then
    -- Moved to another roll-up or renamed: taken out of the old one (its name read again from the rows).
    perform tdk_usage_daily_apply(old, -1, true);
  end if;
  if tg_op in ('INSERT', 'UPDATE') then perform tdk_usage_daily_apply(new, 1); end if;
  return null;
end;
$$;

select tdk_restrict_functions_to_service_role();
