-- The start of a paid call in one round trip (issue 11: the profile put a paid call at seven SQL
-- calls, two of them reads the reservation could answer). `tdk_begin_paid_call` is the
-- reservation (`tdk_reserve_call`, unchanged), and with it:
--  - `wallet`: the key's encrypted wallet secret, only when the reservation holds (the one
--    signature it is for follows); it is still decrypted in the gateway, for that signature only;
--  - `stale_pending`: whether the key has calls left pending since before `p_stale_before` (a
--    crash, a lost answer), so the gateway runs recovery for the key only when there is something
--    to recover, instead of listing the key's pending calls on every call.
-- Read before the reservation, so the new call's own pending row is never counted.
create or replace function tdk_begin_paid_call(
  p_key_id uuid, p_request_id text, p_agent_id text, p_agent_name text,
  p_agent_cost_micro bigint, p_markup_bps integer, p_developer_cost_micro bigint,
  p_idempotency_key text, p_request_hash text, p_policy jsonb, p_stale_before timestamptz
) returns jsonb language plpgsql as $$
declare
  v_stale boolean;
  v_reservation jsonb;
  v_wallet jsonb;
begin
  v_stale := exists (
    select 1 from tdk_usage
     where api_key_id = p_key_id and status = 'pending' and created_at <= p_stale_before
  );
  v_reservation := tdk_reserve_call(p_key_id, p_request_id, p_agent_id, p_agent_name, p_agent_cost_micro, p_markup_bps,
                                    p_developer_cost_micro, p_idempotency_key, p_request_hash, p_policy);
  if (v_reservation->>'ok')::boolean then
    select jsonb_build_object('public_key', k.wallet_public_key, 'secret_encrypted', k.wallet_secret_encrypted)
      into v_wallet from tdk_api_keys k where k.id = p_key_id;
  end if;
  return jsonb_build_object('reservation', v_reservation, 'wallet', v_wallet, 'stale_pending', v_stale);
end $$;

select tdk_restrict_functions_to_service_role();
