-- Data-access functions for accounts, sessions, API keys, the treasury and wallet fundings.
--
-- Every read and write of the application goes through a function like these, so PGlite,
-- Postgres (`select fn(...)`) and Supabase (`.rpc('fn', args)`) share one code path. Each returns
-- jsonb; expected outcomes are values ({"ok": false, "code": "..."}), not exceptions.

-- Public shape of an account (never the password hash).
create or replace function tdk_account_json(a tdk_accounts) returns jsonb
language sql stable as $$
  select jsonb_build_object('id', a.id, 'email', a.email, 'tier', a.tier, 'created_at', a.created_at,
    -- The counter belongs to ops_month: in a later month nothing has been used yet.
    'ops_this_month', case when a.ops_month = date_trunc('month', now() at time zone 'utc')::date then a.ops_this_month else 0 end)
$$;

-- Public shape of a key (never the key hash or the wallet secret).
create or replace function tdk_api_key_json(k tdk_api_keys, t tdk_tier) returns jsonb
language sql immutable as $$
  select jsonb_build_object(
    'id', k.id, 'name', k.name, 'mode', k.mode, 'prefix', k.key_prefix, 'tier', t,
    'status', k.status, 'suspended_reason', k.suspended_reason,
    'wallet_public_key', k.wallet_public_key,
    'wallet_usdc_micro', k.wallet_usdc_micro, 'wallet_sol_lamports', k.wallet_sol_lamports,
    'wallet_balances_at', k.wallet_balances_at,
    'created_at', k.created_at, 'last_used_at', k.last_used_at, 'revoked_at', k.revoked_at)
$$;

create or replace function tdk_register_account(p_email text, p_password_hash text) returns jsonb
language plpgsql as $$
declare
  v tdk_accounts;
begin
  insert into tdk_accounts (email, password_hash) values (lower(btrim(p_email)), p_password_hash)
  on conflict (email) do nothing
  returning * into v;
  if v.id is null then
    return jsonb_build_object('ok', false, 'code', 'email_taken');
  end if;
  return jsonb_build_object('ok', true, 'account', tdk_account_json(v));
end $$;

-- For log-in only: the one place the password hash leaves the database.
create or replace function tdk_get_login_account(p_email text) returns jsonb
language sql stable as $$
  select jsonb_build_object('id', a.id, 'password_hash', a.password_hash)
  from tdk_accounts a where a.email = lower(btrim(p_email))
$$;

create or replace function tdk_get_account(p_account_id uuid) returns jsonb
language sql stable as $$
  select tdk_account_json(a) from tdk_accounts a where a.id = p_account_id
$$;

-- The account's tier (Stripe webhooks keep it in step with the subscription).
create or replace function tdk_set_account_tier(p_account_id uuid, p_tier tdk_tier) returns jsonb
language plpgsql as $$
declare
  v tdk_accounts;
begin
  update tdk_accounts set tier = p_tier, updated_at = now() where id = p_account_id returning * into v;
  return case when v.id is null then null else tdk_account_json(v) end;
end $$;

create or replace function tdk_create_session(p_account_id uuid, p_token_hash text, p_expires_at timestamptz)
returns jsonb language plpgsql as $$
declare
  v tdk_sessions;
begin
  -- Housekeeping on the way: an account's expired sessions are of no use to anyone.
  delete from tdk_sessions where account_id = p_account_id and expires_at < now() - interval '1 day';
  insert into tdk_sessions (account_id, token_hash, expires_at)
  values (p_account_id, p_token_hash, p_expires_at) returning * into v;
  return jsonb_build_object('id', v.id, 'expires_at', v.expires_at);
end $$;

-- The live session for a token hash with its account, or null (unknown, expired or revoked).
create or replace function tdk_get_session(p_token_hash text) returns jsonb
language sql stable as $$
  select jsonb_build_object('id', s.id, 'expires_at', s.expires_at, 'account', tdk_account_json(a))
  from tdk_sessions s join tdk_accounts a on a.id = s.account_id
  where s.token_hash = p_token_hash and s.revoked_at is null and s.expires_at > now()
$$;

create or replace function tdk_revoke_session(p_token_hash text) returns jsonb
language sql as $$
  with revoked as (
    update tdk_sessions set revoked_at = now()
    where token_hash = p_token_hash and revoked_at is null
    returning 1
  )
  select jsonb_build_object('revoked', exists (select 1 from revoked))
$$;

create or replace function tdk_create_api_key(
  p_account_id uuid, p_name text, p_mode tdk_key_mode, p_key_hash text, p_key_prefix text,
  p_wallet_public_key text, p_wallet_secret_encrypted text, p_max_keys integer
) returns jsonb language plpgsql as $$
declare
  v_account tdk_accounts;
  v tdk_api_keys;
begin
  -- Lock the account so two concurrent creations cannot both pass the per-account limit.
  select * into v_account from tdk_accounts where id = p_account_id for update;
  if v_account.id is null then
    return jsonb_build_object('ok', false, 'code', 'account_not_found');
  end if;
  if (select count(*) from tdk_api_keys where account_id = p_account_id and status <> 'revoked') >= p_max_keys then
    return jsonb_build_object('ok', false, 'code', 'key_limit_reached', 'limit', p_max_keys);
  end if;
  insert into tdk_api_keys (account_id, name, mode, key_hash, key_prefix, wallet_public_key, wallet_secret_encrypted)
  values (p_account_id, p_name, p_mode, p_key_hash, p_key_prefix, p_wallet_public_key, p_wallet_secret_encrypted)
  returning * into v;
  return jsonb_build_object('ok', true, 'key', tdk_api_key_json(v, v_account.tier));
end $$;

create or replace function tdk_list_api_keys(p_account_id uuid) returns jsonb
language sql stable as $$
  select coalesce(jsonb_agg(tdk_api_key_json(k, a.tier) order by k.created_at desc, k.id), '[]'::jsonb)
  from tdk_api_keys k join tdk_accounts a on a.id = k.account_id
  where k.account_id = p_account_id
$$;

create or replace function tdk_get_api_key(p_account_id uuid, p_key_id uuid) returns jsonb
language sql stable as $$
  select tdk_api_key_json(k, a.tier)
  from tdk_api_keys k join tdk_accounts a on a.id = k.account_id
  where k.id = p_key_id and k.account_id = p_account_id
$$;

-- Revoking is final and idempotent; another account's key is indistinguishable from no key.
create or replace function tdk_revoke_api_key(p_account_id uuid, p_key_id uuid) returns jsonb
language plpgsql as $$
declare
  v tdk_api_keys;
  v_tier tdk_tier;
begin
  update tdk_api_keys
     set status = 'revoked', revoked_at = coalesce(revoked_at, now()), suspended_reason = null
   where id = p_key_id and account_id = p_account_id
  returning * into v;
  if v.id is null then
    return jsonb_build_object('ok', false, 'code', 'not_found');
  end if;
  select tier into v_tier from tdk_accounts where id = p_account_id;
  return jsonb_build_object('ok', true, 'key', tdk_api_key_json(v, v_tier));
end $$;

-- API key verification: one lookup on the unique key_hash index.
create or replace function tdk_verify_api_key(p_key_hash text) returns jsonb
language sql stable as $$
  select jsonb_build_object(
    'key_id', k.id, 'account_id', k.account_id, 'name', k.name, 'mode', k.mode,
    'prefix', k.key_prefix, 'status', k.status, 'suspended_reason', k.suspended_reason,
    'tier', a.tier, 'wallet_public_key', k.wallet_public_key)
  from tdk_api_keys k join tdk_accounts a on a.id = k.account_id
  where k.key_hash = p_key_hash
$$;

-- The encrypted wallet secret, for the moment a signature is needed and nothing else.
create or replace function tdk_get_wallet_secret(p_key_id uuid) returns jsonb
language sql stable as $$
  select jsonb_build_object('public_key', k.wallet_public_key, 'secret_encrypted', k.wallet_secret_encrypted)
  from tdk_api_keys k where k.id = p_key_id
$$;

-- Caches balances read from the chain. Skipped while a signed payment or a funding of this key is
-- unresolved: the chain may already show it, and resolving it moves the cache once more.
create or replace function tdk_set_wallet_balances(p_key_id uuid, p_usdc_micro bigint, p_sol_lamports bigint)
returns jsonb language sql as $$
  with updated as (
    update tdk_api_keys k
       set wallet_usdc_micro = p_usdc_micro, wallet_sol_lamports = p_sol_lamports, wallet_balances_at = now()
     where k.id = p_key_id
       and not exists (select 1 from tdk_usage u where u.api_key_id = k.id and u.status = 'pending' and u.tx_signature is not null)
       and not exists (select 1 from tdk_wallet_fundings f where f.api_key_id = k.id and f.status = 'pending')
    returning 1
  )
  select jsonb_build_object('updated', exists (select 1 from updated))
$$;

create or replace function tdk_get_treasury() returns jsonb
language sql stable as $$
  select jsonb_build_object('public_key', t.public_key, 'secret_encrypted', t.secret_encrypted, 'created_at', t.created_at)
  from tdk_treasury t where t.id = 1
$$;

-- Stores the treasury once. Replacing it is an explicit operator decision (p_replace).
create or replace function tdk_store_treasury(p_public_key text, p_secret_encrypted text, p_replace boolean)
returns jsonb language plpgsql as $$
declare
  v_existing tdk_treasury;
begin
  select * into v_existing from tdk_treasury where id = 1 for update;
  if v_existing.id is not null and not p_replace then
    return jsonb_build_object('ok', false, 'code', 'treasury_exists', 'public_key', v_existing.public_key);
  end if;
  insert into tdk_treasury (id, public_key, secret_encrypted) values (1, p_public_key, p_secret_encrypted)
  on conflict (id) do update
    set public_key = excluded.public_key, secret_encrypted = excluded.secret_encrypted, updated_at = now();
  return jsonb_build_object('ok', true, 'public_key', p_public_key, 'replaced', v_existing.id is not null);
end $$;

-- Rewrites an encrypted secret (key rotation). Only the ciphertext changes, never the wallet.
create or replace function tdk_reencrypt_wallet_secret(p_key_id uuid, p_old text, p_new text)
returns jsonb language sql as $$
  with updated as (
    update tdk_api_keys set wallet_secret_encrypted = p_new
     where id = p_key_id and wallet_secret_encrypted = p_old
    returning 1
  )
  select jsonb_build_object('updated', exists (select 1 from updated))
$$;

create or replace function tdk_funding_json(f tdk_wallet_fundings) returns jsonb
language sql immutable as $$
  select jsonb_build_object(
    'id', f.id, 'api_key_id', f.api_key_id, 'wallet_public_key', f.wallet_public_key, 'reason', f.reason,
    'usdc_micro', f.usdc_micro, 'sol_lamports', f.sol_lamports, 'tx_signature', f.tx_signature,
    'recent_blockhash', f.recent_blockhash, 'status', f.status, 'error', f.error, 'created_at', f.created_at, 'resolved_at', f.resolved_at)
$$;

-- Records a funding before its (already signed) transaction is sent.
create or replace function tdk_record_funding(
  p_api_key_id uuid, p_reason tdk_funding_reason, p_usdc_micro bigint, p_sol_lamports bigint, p_tx_signature text,
  p_recent_blockhash text
) returns jsonb language plpgsql as $$
declare
  v_wallet text;
  v tdk_wallet_fundings;
begin
  select wallet_public_key into v_wallet from tdk_api_keys where id = p_api_key_id;
  if v_wallet is null then
    return jsonb_build_object('ok', false, 'code', 'not_found');
  end if;
  insert into tdk_wallet_fundings (api_key_id, wallet_public_key, reason, usdc_micro, sol_lamports, tx_signature, recent_blockhash)
  values (p_api_key_id, v_wallet, p_reason, p_usdc_micro, p_sol_lamports, p_tx_signature, p_recent_blockhash)
  returning * into v;
  return jsonb_build_object('ok', true, 'funding', tdk_funding_json(v));
end $$;

-- Resolves a pending funding once, from what the chain says. A resolved one does not change.
create or replace function tdk_resolve_funding(p_funding_id uuid, p_status tdk_funding_status, p_error text)
returns jsonb language plpgsql as $$
declare
  v tdk_wallet_fundings;
begin
  if p_status = 'pending' then
    return jsonb_build_object('ok', false, 'code', 'invalid_status');
  end if;
  update tdk_wallet_fundings
     set status = p_status, resolved_at = now(), error = case when p_status = 'failed' then p_error end
   where id = p_funding_id and status = 'pending'
  returning * into v;
  if v.id is null then
    select * into v from tdk_wallet_fundings where id = p_funding_id;
    if v.id is null then
      return jsonb_build_object('ok', false, 'code', 'not_found');
    end if;
    return jsonb_build_object('ok', v.status = p_status, 'code', 'already_resolved', 'funding', tdk_funding_json(v));
  end if;
  -- What landed is now in the wallet: the cache follows, whatever else is in flight.
  if p_status = 'confirmed' then
    update tdk_api_keys
       set wallet_usdc_micro = wallet_usdc_micro + v.usdc_micro, wallet_sol_lamports = wallet_sol_lamports + v.sol_lamports
     where id = v.api_key_id;
  end if;
  return jsonb_build_object('ok', true, 'funding', tdk_funding_json(v));
end $$;

create or replace function tdk_list_fundings(p_api_key_id uuid) returns jsonb
language sql stable as $$
  select coalesce(jsonb_agg(tdk_funding_json(f) order by f.created_at, f.id), '[]'::jsonb)
  from tdk_wallet_fundings f where f.api_key_id = p_api_key_id
$$;

create or replace function tdk_list_pending_fundings(p_older_than timestamptz) returns jsonb
language sql stable as $$
  select coalesce(jsonb_agg(tdk_funding_json(f) order by f.created_at, f.id), '[]'::jsonb)
  from tdk_wallet_fundings f where f.status = 'pending' and f.created_at <= p_older_than
$$;

-- Every function in `public` is callable by the service role only: PostgREST (Supabase) exposes
-- them to anon and authenticated otherwise. On plain Postgres and PGlite those roles do not exist
-- and the owner calls them directly. Each migration that adds functions ends by calling this.
create or replace function tdk_restrict_functions_to_service_role() returns void
language plpgsql as $$
begin
  execute 'revoke execute on all functions in schema public from public';
  if exists (select 1 from pg_roles where rolname = 'anon') then
    execute 'revoke execute on all functions in schema public from anon, authenticated';
  end if;
  if exists (select 1 from pg_roles where rolname = 'service_role') then
    execute 'grant execute on all functions in schema public to service_role';
  end if;
end $$;

select tdk_restrict_functions_to_service_role();
