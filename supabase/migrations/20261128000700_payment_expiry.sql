-- "Not paid" only from positive evidence. A signed payment is recorded with the block height after
-- which its transaction can no longer land (exact for the embedded chain; a safe upper bound for a
-- payment the marketplace built on a cluster), as fundings already are. Recovery
-- concludes "not paid" only when the signature is unknown to the chain's whole history *and* the
-- chain's height has passed that bound. Rows recorded before this migration have no bound: they
-- stay pending (and are alerted on) until an operator resolves them.
--
-- Reconciliation also checks each wallet as a whole: what its fundings, sweeps and paid calls say
-- it should hold against what the chain says, and every transaction of the wallet against the
-- signatures the database knows.

alter table tdk_usage add column last_valid_block_height bigint check (last_valid_block_height >= 0);

create or replace function tdk_usage_json(u tdk_usage) returns jsonb
language sql immutable as $$
  select jsonb_build_object(
    'id', u.id, 'request_id', u.request_id, 'api_key_id', u.api_key_id, 'account_id', u.account_id,
    'agent_id', u.agent_id, 'agent_name', u.agent_name, 'status', u.status,
    'agent_cost_micro', u.agent_cost_micro, 'markup_bps', u.markup_bps, 'developer_cost_micro', u.developer_cost_micro,
    'tier', u.tier, 'payment_intent_id', u.payment_intent_id, 'tx_signature', u.tx_signature,
    'recent_blockhash', u.recent_blockhash, 'last_valid_block_height', u.last_valid_block_height,
    'receipt_id', u.receipt_id, 'error', u.error,
    'idempotency_key', u.idempotency_key, 'request_hash', u.request_hash, 'response', u.response,
    'billing_status', u.billing_status, 'created_at', u.created_at, 'settled_at', u.settled_at)
$$;

-- Recorded after signing and before the payment leaves the gateway, with its expiry height.
drop function if exists tdk_record_call_payment(uuid, text, text, text);
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
  return jsonb_build_object('ok', true, 'usage', tdk_usage_json(v));
end $$;

-- Calls still pending after p_older_than: how many, and since when (the stale-pending alert).
create or replace function tdk_stale_pending(p_older_than timestamptz) returns jsonb
language sql stable as $$
  select jsonb_build_object(
    'calls', (select count(*) from tdk_usage where status = 'pending' and created_at <= p_older_than),
    'oldest_call', (select min(created_at) from tdk_usage where status = 'pending' and created_at <= p_older_than),
    'fundings', (select count(*) from tdk_wallet_fundings where status = 'pending' and created_at <= p_older_than))
$$;

-- The wallets active in a period (a call or a funding in it), each with everything the database
-- says moved through it, all time: fundings and sweeps with their signatures and amounts, and every
-- signed payment with its agent cost. Reconciliation checks each against the chain.
create or replace function tdk_wallet_movements(p_from timestamptz, p_to timestamptz) returns jsonb
language sql stable as $$
  select coalesce(jsonb_agg(jsonb_build_object(
           'key_id', k.id, 'wallet_public_key', k.wallet_public_key,
           'fundings', (select coalesce(jsonb_agg(jsonb_build_object('tx_signature', f.tx_signature, 'reason', f.reason, 'status', f.status, 'usdc_micro', f.usdc_micro)
                                        order by f.created_at, f.id), '[]'::jsonb)
                          from tdk_wallet_fundings f where f.api_key_id = k.id and f.tx_signature is not null),
           'payments', (select coalesce(jsonb_agg(jsonb_build_object('tx_signature', u.tx_signature, 'status', u.status, 'agent_cost_micro', u.agent_cost_micro)
                                        order by u.created_at, u.id), '[]'::jsonb)
                          from tdk_usage u where u.api_key_id = k.id and u.tx_signature is not null)) order by k.id), '[]'::jsonb)
  from tdk_api_keys k
  where exists (select 1 from tdk_usage u where u.api_key_id = k.id and u.created_at >= p_from and u.created_at < p_to)
     or exists (select 1 from tdk_wallet_fundings f where f.api_key_id = k.id and f.created_at >= p_from and f.created_at < p_to)
$$;

select tdk_restrict_functions_to_service_role();
