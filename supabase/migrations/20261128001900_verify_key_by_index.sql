-- Key verification by index, whatever the statistics say (issue 11, point 4: flat from 1,000 to
-- 100,000 keys). Since rotation (20261128001200) a key is found by its hash or by its previous
-- hash during the grace period, and `key_hash = $1 or previous_key_hash = $1` was planned as a
-- sequential scan when the table's statistics were those of a small table (PGlite runs no
-- autovacuum): `npm run bench` measured p50 14.9 ms at 100,000 keys against 0.58 ms at 1,000.
-- Each arm below is an equality on its own unique index, which no statistics can turn into a scan.
create or replace function tdk_verify_api_key(p_key_hash text) returns jsonb
language sql stable as $$
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
$$;

select tdk_restrict_functions_to_service_role();
