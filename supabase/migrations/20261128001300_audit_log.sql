-- The audit log (issue 14, point 6): every key created, rotated or revoked, every spend limit
-- change, every suspension and lift, every tier change, every account deletion and every sweep —
-- who, when, what, before and after. Append-only: rows are inserted by triggers on the tables whose
-- changes they record, so every path that changes them (routes, crons, webhooks, scripts, SQL run by
-- hand) is recorded; no update or delete is allowed.
--
-- Who: a function that knows its actor says so for its transaction with
-- `set_config('tdk.actor', 'operator:<id>', true)`; otherwise the trigger names the only actor that
-- can make that change today: the account's developer for its keys, limits and deletion; Stripe
-- for suspensions and tiers (its webhooks); the system for sweeps.

create table tdk_audit_log (
  id bigint generated always as identity primary key,
  at timestamptz not null default clock_timestamp(),
  actor text not null,
  account_id uuid references tdk_accounts (id) on delete set null,
  action text not null,
  target_type text not null,
  target_id text not null,
  before jsonb,
  after jsonb
);
create index tdk_audit_log_account_idx on tdk_audit_log (account_id, id desc);
create index tdk_audit_log_action_idx on tdk_audit_log (action, id desc);
alter table tdk_audit_log enable row level security;

create or replace function tdk_audit_refuse_change() returns trigger
language plpgsql as $$
begin
  raise exception 'tdk_audit_log is append-only: % refused', tg_op using errcode = 'insufficient_privilege';
end $$;

create trigger tdk_audit_log_append_only before update or delete on tdk_audit_log
  for each row execute function tdk_audit_refuse_change();
create trigger tdk_audit_log_no_truncate before truncate on tdk_audit_log
  for each statement execute function tdk_audit_refuse_change();

create or replace function tdk_audit_actor(p_default text) returns text
language sql stable as $$
  select coalesce(nullif(current_setting('tdk.actor', true), ''), p_default)
$$;

create or replace function tdk_audit(
  p_actor text, p_account_id uuid, p_action text, p_target_type text, p_target_id text, p_before jsonb, p_after jsonb
) returns void language sql as $$
  insert into tdk_audit_log (actor, account_id, action, target_type, target_id, before, after)
  values (p_actor, p_account_id, p_action, p_target_type, p_target_id, p_before, p_after)
$$;

-- Keys: created, rotated (the prefix only: hashes never leave their table), revoked, suspended or
-- reactivated, their spend limit changed, their wallet marked swept.
create or replace function tdk_audit_api_keys() returns trigger
language plpgsql as $$
declare
  v_developer text := 'account:' || new.account_id;
begin
  if tg_op = 'INSERT' then
    perform tdk_audit(tdk_audit_actor(v_developer), new.account_id, 'key.created', 'api_key', new.id::text, null,
      jsonb_build_object('name', new.name, 'prefix', new.key_prefix, 'wallet', new.wallet_public_key));
    return new;
  end if;
  if new.key_hash is distinct from old.key_hash then
    perform tdk_audit(tdk_audit_actor(v_developer), new.account_id, 'key.rotated', 'api_key', new.id::text,
      jsonb_build_object('prefix', old.key_prefix),
      jsonb_build_object('prefix', new.key_prefix, 'previous_secret_expires_at', new.previous_key_expires_at));
  end if;
  if new.status is distinct from old.status then
    perform tdk_audit(
      tdk_audit_actor(case when new.status = 'revoked' then v_developer else 'stripe' end), new.account_id,
      case new.status when 'revoked' then 'key.revoked' when 'suspended' then 'key.suspended' else 'key.reactivated' end,
      'api_key', new.id::text,
      jsonb_build_object('status', old.status, 'suspended_reason', old.suspended_reason),
      jsonb_build_object('status', new.status, 'suspended_reason', new.suspended_reason));
  end if;
  if (new.spend_limit_micro, new.spend_limit_period) is distinct from (old.spend_limit_micro, old.spend_limit_period) then
    perform tdk_audit(tdk_audit_actor(v_developer), new.account_id, 'key.spend_limit_changed', 'api_key', new.id::text,
      jsonb_build_object('limit_micro', old.spend_limit_micro, 'period', old.spend_limit_period),
      jsonb_build_object('limit_micro', new.spend_limit_micro, 'period', new.spend_limit_period));
  end if;
  if new.swept_at is not null and old.swept_at is null then
    perform tdk_audit(tdk_audit_actor('system'), new.account_id, 'wallet.swept', 'wallet', new.wallet_public_key, null,
      jsonb_build_object('key_id', new.id, 'swept_at', new.swept_at));
  end if;
  return new;
end $$;

create trigger tdk_api_keys_audit after insert or update on tdk_api_keys
  for each row execute function tdk_audit_api_keys();

-- Accounts: suspended and lifted, tier changed, deleted. (The email is not copied here: the log
-- outlives a deletion, and must not keep what the deletion erased.)
create or replace function tdk_audit_accounts() returns trigger
language plpgsql as $$
begin
  if new.suspended_reason is distinct from old.suspended_reason then
    perform tdk_audit(tdk_audit_actor('stripe'), new.id,
      case when new.suspended_reason is null then 'account.suspension_lifted' else 'account.suspended' end,
      'account', new.id::text,
      jsonb_build_object('suspended_reason', old.suspended_reason),
      jsonb_build_object('suspended_reason', new.suspended_reason));
  end if;
  if new.tier is distinct from old.tier then
    perform tdk_audit(tdk_audit_actor('stripe'), new.id, 'account.tier_changed', 'account', new.id::text,
      jsonb_build_object('tier', old.tier), jsonb_build_object('tier', new.tier));
  end if;
  if new.deleted_at is not null and old.deleted_at is null then
    perform tdk_audit(tdk_audit_actor('account:' || new.id), new.id, 'account.deleted', 'account', new.id::text, null,
      jsonb_build_object('deleted_at', new.deleted_at));
  end if;
  return new;
end $$;

create trigger tdk_accounts_audit after update on tdk_accounts
  for each row execute function tdk_audit_accounts();

-- Sweeps that moved funds: the funding row confirmed with its amounts.
create or replace function tdk_audit_fundings() returns trigger
language plpgsql as $$
begin
  if new.reason = 'sweep' and new.status = 'confirmed' and old.status is distinct from 'confirmed' then
    perform tdk_audit(tdk_audit_actor('system'), new.account_id, 'wallet.swept', 'wallet', new.wallet_public_key, null,
      jsonb_build_object('key_id', new.api_key_id, 'usdc_micro', new.usdc_micro, 'sol_lamports', new.sol_lamports,
        'tx_signature', new.tx_signature));
  end if;
  return new;
end $$;

create trigger tdk_wallet_fundings_audit after update on tdk_wallet_fundings
  for each row execute function tdk_audit_fundings();

-- A page of the log, newest first: one account's (its developer sees it), or everything (operators).
create or replace function tdk_audit_entries(p_account_id uuid, p_before_id bigint, p_limit integer) returns jsonb
language sql stable as $$
  select coalesce(jsonb_agg(jsonb_build_object('id', l.id, 'at', l.at, 'actor', l.actor, 'account_id', l.account_id,
    'action', l.action, 'target_type', l.target_type, 'target_id', l.target_id, 'before', l.before, 'after', l.after)
    order by l.id desc), '[]'::jsonb)
  from (
    select * from tdk_audit_log
     where (p_account_id is null or account_id = p_account_id)
       and (p_before_id is null or id < p_before_id)
     order by id desc
     limit p_limit
  ) l
$$;

select tdk_restrict_functions_to_service_role();
