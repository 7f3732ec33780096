-- A call is billed `succeeded` only once its payment is confirmed on the chain. When the agent's
-- answer arrives before the chain confirms the payment, the answer (and the marketplace's receipt
-- id) is kept on the still-pending row; recovery settles it as `succeeded` with that answer once
-- the payment lands, or as `failed` (not billed) once it provably never can.
--
-- `response` holds the call's outcome as the gateway decided it (lib/calls/outcome.ts): a settled
-- row's for idempotent replays, a pending row's provisional one for recovery. Rows settled before
-- this migration hold the HTTP answer itself and are replayed as they are.

create or replace function tdk_record_call_result(p_usage_id uuid, p_receipt_id text, p_response jsonb)
returns jsonb language plpgsql as $$
declare
  v tdk_usage;
begin
  update tdk_usage
     set receipt_id = coalesce(p_receipt_id, receipt_id), response = coalesce(p_response, response)
   where id = p_usage_id and status = 'pending' and tx_signature is not null
  returning * into v;
  if v.id is null then
    return jsonb_build_object('ok', false, 'code', 'not_pending');
  end if;
  return jsonb_build_object('ok', true, 'usage', tdk_usage_json(v));
end $$;

-- One call of one key, by the request id its answer carried (what a caller reads a slow call by).
create or replace function tdk_get_call(p_key_id uuid, p_request_id text) returns jsonb
language sql stable as $$
  select tdk_usage_json(u) from tdk_usage u where u.request_id = p_request_id and u.api_key_id = p_key_id
$$;

select tdk_restrict_functions_to_service_role();
