-- The one-column rules of the tables a paid call writes become domains (issue 11).
--
-- PostgreSQL checks every CHECK constraint of a table on every insert and update of a row, whatever
-- the statement changed, and for every statement it reads each constraint back from its stored
-- text (stringToNode) and prepares it again. A paid call updates `tdk_api_keys` (16 checks) and
-- `tdk_accounts` (12) twice each, writes `tdk_usage` (6) three times and its roll-up (7) twice.
-- On PostgreSQL 15, `perf` on a backend running reservations put ExecConstraints at 18.7% of its
-- CPU, most of it stringToNode and expression preparation; 4,000 reservations in one session took
-- 0.35 ms each with the checks and 0.24 ms with none (medians of 4 runs).
--
-- A domain's rule is checked where a value is written into a column of that type, and nowhere
-- else: a counter's update checks the counter, no longer the key's hash, prefix, name, wallet and
-- sealed secret. Its prepared check is kept with the type, not rebuilt per statement. Every rule
-- below is the table check it replaces, on `value`; a NULL passes a domain's check as it passed the
-- table's. The rules that tie two columns (a revoked key has its time, a succeeded call its
-- signature, ...) stay table checks.
--
-- Measured, the four functions of a paid call (verify, begin, record, settle), 2,000 calls a run
-- in one session on PostgreSQL 15, 5 alternations: 1.02-1.10 ms a call with the domains,
-- 1.14-1.46 ms with the checks. On PGlite through the gateway's own query path, 300 calls a run,
-- 10 alternations: medians 1.62 against 1.86 ms a call in memory, 1.62 against 1.80 on disk.
-- Bench section 9 on the embedded default, 8 rounds with the domains and 6 without: PGlite's
-- thread took 2.04-2.21 ms a paid call with them (2.61 in a round another process shared), 2.12-2.69
-- ms without. The calls a second were no different (the request thread sets the pace), nor, in 4
-- rounds each, was anything on PostgreSQL.

create domain tdk_nonnegative_bigint as bigint constraint tdk_nonnegative_bigint_check check (value >= 0);
create domain tdk_nonnegative_integer as integer constraint tdk_nonnegative_integer_check check (value >= 0);
create domain tdk_positive_bigint as bigint constraint tdk_positive_bigint_check check (value > 0);
-- An API key's SHA-256, as lib/keys stores it: 64 lowercase hex digits.
create domain tdk_sha256_hex as text constraint tdk_sha256_hex_check check (value ~ '^[0-9a-f]{64}$');
create domain tdk_key_prefix as text constraint tdk_key_prefix_check check (length(value) between 8 and 20);
create domain tdk_key_name as text constraint tdk_key_name_check check (length(value) between 1 and 64);
-- A Solana address in base58: 32 to 44 characters.
create domain tdk_solana_address as text constraint tdk_solana_address_check check (length(value) between 32 and 44);
-- A secret sealed by lib/crypto/secret-box.ts, never a bare one.
create domain tdk_sealed_secret as text constraint tdk_sealed_secret_check check (value like 'tdkenc:%');
create domain tdk_email as text constraint tdk_email_check check (value = lower(btrim(value)) and length(value) between 3 and 254);
create domain tdk_bcrypt_hash as text constraint tdk_bcrypt_hash_check check (value like '$2%');
create domain tdk_account_role as text constraint tdk_account_role_check check (value in ('developer', 'admin'));

-- A column a trigger's WHEN reads cannot change its type; these two are dropped and made again as
-- they were (20261128002000_audit_trigger_conditions.sql, 20261128001000_usage_rollups.sql).
drop trigger tdk_api_keys_audit on tdk_api_keys;
drop trigger tdk_usage_daily_update on tdk_usage;

alter table tdk_api_keys
  drop constraint tdk_api_keys_key_hash_check,
  drop constraint tdk_api_keys_previous_hash_format,
  drop constraint tdk_api_keys_key_prefix_check,
  drop constraint tdk_api_keys_name_check,
  drop constraint tdk_api_keys_wallet_public_key_check,
  drop constraint tdk_api_keys_wallet_secret_encrypted_check,
  drop constraint tdk_api_keys_wallet_usdc_micro_check,
  drop constraint tdk_api_keys_wallet_sol_lamports_check,
  drop constraint tdk_api_keys_reserved_usdc_micro_check,
  drop constraint tdk_api_keys_spend_limit_micro_check,
  drop constraint tdk_api_keys_spent_micro_check,
  alter column key_hash type tdk_sha256_hex,
  alter column previous_key_hash type tdk_sha256_hex,
  alter column key_prefix type tdk_key_prefix,
  alter column name type tdk_key_name,
  alter column wallet_public_key type tdk_solana_address,
  alter column wallet_secret_encrypted type tdk_sealed_secret,
  alter column wallet_usdc_micro type tdk_nonnegative_bigint,
  alter column wallet_sol_lamports type tdk_nonnegative_bigint,
  alter column reserved_usdc_micro type tdk_nonnegative_bigint,
  alter column spend_limit_micro type tdk_positive_bigint,
  alter column spent_micro type tdk_nonnegative_bigint;

alter table tdk_accounts
  drop constraint tdk_accounts_email_normalized,
  drop constraint tdk_accounts_password_hash_is_bcrypt,
  drop constraint tdk_accounts_role_check,
  drop constraint tdk_accounts_ops_this_month_check,
  drop constraint tdk_accounts_quota_override_check,
  drop constraint tdk_accounts_free_spent_micro_check,
  drop constraint tdk_accounts_in_flight_micro_check,
  drop constraint tdk_accounts_agent_failed_micro_check,
  drop constraint tdk_accounts_agent_failed_cap_override_micro_check,
  drop constraint tdk_accounts_free_allowance_override_micro_check,
  alter column email type tdk_email,
  alter column password_hash type tdk_bcrypt_hash,
  alter column role type tdk_account_role,
  alter column ops_this_month type tdk_nonnegative_integer,
  alter column quota_override type tdk_nonnegative_integer,
  alter column free_spent_micro type tdk_nonnegative_bigint,
  alter column in_flight_micro type tdk_nonnegative_bigint,
  alter column agent_failed_micro type tdk_nonnegative_bigint,
  alter column agent_failed_cap_override_micro type tdk_nonnegative_bigint,
  alter column free_allowance_override_micro type tdk_nonnegative_bigint;

alter table tdk_usage
  drop constraint tdk_usage_agent_cost_micro_check,
  drop constraint tdk_usage_markup_bps_check,
  drop constraint tdk_usage_last_valid_block_height_check,
  alter column agent_cost_micro type tdk_nonnegative_bigint,
  alter column markup_bps type tdk_nonnegative_integer,
  alter column last_valid_block_height type tdk_nonnegative_bigint;

alter table tdk_usage_daily
  drop constraint tdk_usage_daily_calls_check,
  drop constraint tdk_usage_daily_succeeded_check,
  drop constraint tdk_usage_daily_failed_check,
  drop constraint tdk_usage_daily_agent_failed_check,
  drop constraint tdk_usage_daily_pending_check,
  drop constraint tdk_usage_daily_agent_cost_micro_check,
  drop constraint tdk_usage_daily_developer_cost_micro_check,
  alter column calls type tdk_nonnegative_bigint,
  alter column succeeded type tdk_nonnegative_bigint,
  alter column failed type tdk_nonnegative_bigint,
  alter column agent_failed type tdk_nonnegative_bigint,
  alter column pending type tdk_nonnegative_bigint,
  alter column agent_cost_micro type tdk_nonnegative_bigint,
  alter column developer_cost_micro type tdk_nonnegative_bigint;

alter table tdk_agent_breakers
  drop constraint tdk_agent_breakers_trips_check,
  alter column trips type tdk_nonnegative_integer;

create trigger tdk_api_keys_audit after update on tdk_api_keys
  for each row when (
    new.key_hash is distinct from old.key_hash
    or new.status is distinct from old.status
    or (new.spend_limit_micro, new.spend_limit_period) is distinct from (old.spend_limit_micro, old.spend_limit_period)
    or (new.swept_at is not null and old.swept_at is null)
  ) execute function tdk_audit_api_keys();

create trigger tdk_usage_daily_update after update on tdk_usage
  for each row when (
    (old.status, old.created_at, old.account_id, old.api_key_id, old.agent_id, old.agent_name, old.agent_cost_micro, old.developer_cost_micro)
    is distinct from
    (new.status, new.created_at, new.account_id, new.api_key_id, new.agent_id, new.agent_name, new.agent_cost_micro, new.developer_cost_micro)
  ) execute function tdk_usage_daily_trigger();
