-- A paid call's reservation commits without waiting for its WAL to reach the disk (issue 11).
--
-- A paid call commits three times: the reservation (`tdk_begin_paid_call`), the signed payment's
-- record (`tdk_record_call_payment`) before the payment leaves, and the settlement. On PostgreSQL
-- under load the backends spent most of their sampled time waiting on WAL flushes (wait events
-- WALSync and the WALWrite lock), one flush a commit.
--
-- The reservation's flush protects nothing: nothing leaves the gateway between the reservation and
-- the payment's record, and that record commits synchronously. A flush writes the WAL up to its
-- commit, every earlier record included, so once the payment's record is durable the reservation
-- is too. If the database stops before that, the reservation may be lost, but together with its
-- counters (one transaction), and the payment it was for was never sent: the gateway sends it only
-- after the record answers. The record and the settlement keep their synchronous commits.
--
-- Measured (bench section 9, database on PostgreSQL, 6 alternations with and without this file): the
-- best round 169.7-233.7 paid calls/s with it, 119.3-158.7 without; the database's CPU 2.64-3.73 ms
-- a call with it, 3.39-6.34 without. In process (16 keys, 960 calls a side, 8 alternations) the WAL
-- syncs a call fell from 2.06-2.44 to 1.29-1.71; there the gateway's CPU, not the commits, set the pace.
--
-- `set_config(..., true)` holds for the transaction, its commit included; a `SET` clause on the
-- function would be undone when the function returns, before the commit. Everything else is
-- `tdk_begin_paid_call` as 20261128001800_paid_call_begin.sql wrote it.

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
  perform set_config('synchronous_commit', 'off', true);
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
