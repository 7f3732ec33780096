-- Developer self-service (issue 13): key rotation that keeps the wallet, password change and
-- reset, account deletion, invoices' hosted links, usage filters.

-- A deleted account keeps its row (and id) for the books; see tdk_delete_account below.
alter table tdk_accounts add column deleted_at timestamptz;

-- ---------------------------------------------------------------------------------------------
-- Key rotation. A key's wallet is its identity at the agents (DESIGN.md): rotating replaces the
-- secret only. The previous secret's hash is kept until its grace period ends; then it verifies
-- as revoked. One previous secret at a time: rotating again ends the earlier one at once.

alter table tdk_api_keys
  add column previous_key_hash text,
  add column previous_key_expires_at timestamptz,
  add column rotated_at timestamptz,
  add constraint tdk_api_keys_previous_hash_format check (previous_key_hash is null or previous_key_hash ~ '^[0-9a-f]{64}$'),
  add constraint tdk_api_keys_previous_has_expiry check ((previous_key_hash is null) = (previous_key_expires_at is null));
create unique index tdk_api_keys_previous_key_hash_key on tdk_api_keys (previous_key_hash) where previous_key_hash is not null;

-- Verification: one lookup on either unique hash index. The previous secret answers with the key's
-- status while its grace period lasts, and as revoked after it.
create or replace function tdk_verify_api_key(p_key_hash text) returns jsonb
language sql stable as $$
  select jsonb_build_object(
    'key_id', k.id, 'account_id', k.account_id, 'name', k.name, 'mode', k.mode,
    'prefix', k.key_prefix,
    'status', case when k.key_hash = p_key_hash or k.previous_key_expires_at > now() then k.status else 'revoked'::tdk_key_status end,
    'suspended_reason', k.suspended_reason,
    'account_suspended_reason', a.suspended_reason,
    'tier', a.tier, 'wallet_public_key', k.wallet_public_key)
  from tdk_api_keys k join tdk_accounts a on a.id = k.account_id
  where k.key_hash = p_key_hash or k.previous_key_hash = p_key_hash
  limit 1
$$;

create or replace function tdk_rotate_api_key(
  p_account_id uuid, p_key_id uuid, p_key_hash text, p_key_prefix text, p_grace_seconds integer
) returns jsonb language plpgsql as $$
declare
  v tdk_api_keys;
  v_account tdk_accounts;
begin
  if p_grace_seconds < 0 or p_grace_seconds > 168 * 3600 then
    return jsonb_build_object('ok', false, 'code', 'invalid_grace_period');
  end if;
  select * into v from tdk_api_keys where id = p_key_id and account_id = p_account_id for update;
  if v.id is null then
    return jsonb_build_object('ok', false, 'code', 'not_found');
  end if;
  if v.status = 'revoked' then
    return jsonb_build_object('ok', false, 'code', 'key_revoked');
  end if;
  update tdk_api_keys
     set previous_key_hash = key_hash,
         previous_key_expires_at = now() + make_interval(secs => p_grace_seconds),
         key_hash = p_key_hash,
         key_prefix = p_key_prefix,
         rotated_at = now()
   where id = p_key_id
  returning * into v;
  select * into v_account from tdk_accounts where id = p_account_id;
  return jsonb_build_object('ok', true, 'key', tdk_api_key_json(v, v_account), 'previous_expires_at', v.previous_key_expires_at);
end $$;

-- ---------------------------------------------------------------------------------------------
-- Passwords. A change revokes every other session; a reset (by a single-use, expiring token sent
-- by email) revokes them all.

create table tdk_password_resets (
  id uuid primary key default gen_random_uuid(),
  account_id uuid not null references tdk_accounts (id) on delete cascade,
  -- SHA-256 (hex) of the token; the token itself is only ever in the email.
  token_hash text not null unique check (token_hash ~ '^[0-9a-f]{64}$'),
  created_at timestamptz not null default now(),
  expires_at timestamptz not null,
  used_at timestamptz,
  constraint tdk_password_resets_expiry_after_creation check (expires_at > created_at)
);
create index tdk_password_resets_account_idx on tdk_password_resets (account_id, created_at desc);
alter table tdk_password_resets enable row level security;

create or replace function tdk_get_password_hash(p_account_id uuid) returns jsonb
language sql stable as $$
  select jsonb_build_object('password_hash', a.password_hash) from tdk_accounts a where a.id = p_account_id and a.deleted_at is null
$$;

create or replace function tdk_change_password(p_account_id uuid, p_password_hash text, p_keep_session_id uuid) returns jsonb
language plpgsql as $$
declare
  v_revoked integer;
begin
  update tdk_accounts set password_hash = p_password_hash, updated_at = now() where id = p_account_id and deleted_at is null;
  if not found then
    return jsonb_build_object('ok', false, 'code', 'account_not_found');
  end if;
  update tdk_sessions set revoked_at = now()
   where account_id = p_account_id and revoked_at is null and id is distinct from p_keep_session_id;
  get diagnostics v_revoked = row_count;
  return jsonb_build_object('ok', true, 'sessions_revoked', v_revoked);
end $$;

-- A reset token for the account with this email, if there is one (the caller answers the same
-- either way). Earlier unused tokens of the account end: only the latest link works.
create or replace function tdk_create_password_reset(p_email text, p_token_hash text, p_expires_at timestamptz) returns jsonb
language plpgsql as $$
declare
  v_account uuid;
begin
  select id into v_account from tdk_accounts where email = lower(btrim(p_email)) and deleted_at is null;
  if v_account is null then
    return jsonb_build_object('created', false);
  end if;
  update tdk_password_resets set used_at = now() where account_id = v_account and used_at is null;
  insert into tdk_password_resets (account_id, token_hash, expires_at) values (v_account, p_token_hash, p_expires_at);
  return jsonb_build_object('created', true);
end $$;

-- Uses a reset token once: the new password is set and every session revoked, in one step.
create or replace function tdk_use_password_reset(p_token_hash text, p_password_hash text) returns jsonb
language plpgsql as $$
declare
  v tdk_password_resets;
begin
  update tdk_password_resets set used_at = now()
   where token_hash = p_token_hash and used_at is null and expires_at > now()
  returning * into v;
  if v.id is null then
    return jsonb_build_object('ok', false, 'code', 'invalid_token');
  end if;
  update tdk_accounts set password_hash = p_password_hash, updated_at = now() where id = v.account_id and deleted_at is null;
  update tdk_sessions set revoked_at = now() where account_id = v.account_id and revoked_at is null;
  return jsonb_build_object('ok', true, 'account_id', v.account_id);
end $$;

-- ---------------------------------------------------------------------------------------------
-- Account deletion. The usage stays for the books under the account's id, which no longer leads
-- to a person: the email becomes a pseudonym, the password unusable, sessions and reset tokens
-- go, every key is revoked (the sweep cron brings their wallets back to the treasury). The card
-- fingerprints stay: they hold no personal data and stop a deleted account's card from giving a
-- second free allowance.

create or replace function tdk_delete_account(p_account_id uuid) returns jsonb
language plpgsql as $$
declare
  v tdk_accounts;
  v_keys integer;
begin
  select * into v from tdk_accounts where id = p_account_id and deleted_at is null for update;
  if v.id is null then
    return jsonb_build_object('ok', false, 'code', 'account_not_found');
  end if;
  update tdk_api_keys
     set status = 'revoked', revoked_at = coalesce(revoked_at, now()), suspended_reason = null,
         previous_key_hash = null, previous_key_expires_at = null, name = 'deleted'
   where account_id = p_account_id and status <> 'revoked';
  get diagnostics v_keys = row_count;
  update tdk_api_keys set name = 'deleted', previous_key_hash = null, previous_key_expires_at = null where account_id = p_account_id;
  delete from tdk_sessions where account_id = p_account_id;
  delete from tdk_password_resets where account_id = p_account_id;
  update tdk_accounts
     set email = 'deleted-' || replace(id::text, '-', '') || '@deleted.invalid',
         -- Not a bcrypt hash of anything: no password verifies against it.
         password_hash = '$2b$10$deleted.account.no.password.can.match.this.hash.at.all',
         deleted_at = now(), updated_at = now()
   where id = p_account_id;
  return jsonb_build_object('ok', true, 'keys_revoked', v_keys, 'stripe_customer_id', v.stripe_customer_id,
    'stripe_subscription_id', v.stripe_subscription_id);
end $$;

-- A deleted account has no login and no session.
create or replace function tdk_get_login_account(p_email text) returns jsonb
language sql stable as $$
  select jsonb_build_object('id', a.id, 'password_hash', a.password_hash)
  from tdk_accounts a where a.email = lower(btrim(p_email)) and a.deleted_at is null
$$;

-- ---------------------------------------------------------------------------------------------
-- Invoices: Stripe's hosted page, for the billing page's links.

alter table tdk_billing_periods add column hosted_invoice_url text;

drop function if exists tdk_upsert_billing_period(text, text, text, timestamptz, timestamptz, tdk_period_status, bigint);
create or replace function tdk_upsert_billing_period(
  p_customer_id text, p_invoice_id text, p_subscription_id text, p_period_start timestamptz, p_period_end timestamptz,
  p_status tdk_period_status, p_total_cost_micro bigint, p_hosted_invoice_url text
) returns jsonb language plpgsql as $$
declare
  v_account uuid;
  v tdk_billing_periods;
  v_operations integer;
begin
  select id into v_account from tdk_accounts where stripe_customer_id = p_customer_id;
  if v_account is null then
    return jsonb_build_object('ok', false, 'code', 'account_not_found');
  end if;
  select count(*) into v_operations from tdk_usage
   where account_id = v_account and status = 'succeeded' and created_at >= p_period_start and created_at < p_period_end;
  insert into tdk_billing_periods (account_id, period_start, period_end, total_operations, total_cost_micro,
                                   stripe_invoice_id, stripe_subscription_id, status, paid_at, hosted_invoice_url)
  values (v_account, p_period_start, p_period_end, v_operations, p_total_cost_micro, p_invoice_id, p_subscription_id,
          p_status, case when p_status = 'paid' then now() end, p_hosted_invoice_url)
  on conflict (stripe_invoice_id) do update
    set status = case when tdk_billing_periods.status = 'paid' then 'paid'::tdk_period_status else excluded.status end,
        paid_at = case when tdk_billing_periods.status = 'paid' then tdk_billing_periods.paid_at else excluded.paid_at end,
        total_cost_micro = excluded.total_cost_micro,
        total_operations = excluded.total_operations,
        hosted_invoice_url = coalesce(excluded.hosted_invoice_url, tdk_billing_periods.hosted_invoice_url),
        updated_at = now()
  returning * into v;
  return jsonb_build_object('ok', true, 'account_id', v_account, 'status', v.status);
end $$;

create or replace function tdk_list_billing_periods(p_account_id uuid) returns jsonb
language sql stable as $$
  select coalesce(jsonb_agg(jsonb_build_object('stripe_invoice_id', p.stripe_invoice_id, 'status', p.status,
    'period_start', p.period_start, 'period_end', p.period_end, 'total_operations', p.total_operations,
    'total_cost_micro', p.total_cost_micro, 'paid_at', p.paid_at, 'hosted_invoice_url', p.hosted_invoice_url)
    order by p.period_start desc, p.stripe_invoice_id), '[]'::jsonb)
  from tdk_billing_periods p where p.account_id = p_account_id
$$;

-- ---------------------------------------------------------------------------------------------
-- Usage history with filters: agent and status, besides key and time.

drop function if exists tdk_usage_history(uuid, uuid, timestamptz, uuid, integer);
create or replace function tdk_usage_history(
  p_account_id uuid, p_key_id uuid, p_before_time timestamptz, p_before_id uuid, p_limit integer,
  p_agent_id text default null, p_status tdk_usage_status default null
) returns jsonb language sql stable as $$
  select coalesce(jsonb_agg(tdk_usage_json(u) order by u.created_at desc, u.id desc), '[]'::jsonb)
  from (
    select * from tdk_usage
     where account_id = p_account_id
       and (p_key_id is null or api_key_id = p_key_id)
       and (p_agent_id is null or agent_id = p_agent_id)
       and (p_status is null or status = p_status)
       and (p_before_time is null or (created_at, id) < (p_before_time, p_before_id))
     order by created_at desc, id desc
     limit p_limit
  ) u
$$;

-- ---------------------------------------------------------------------------------------------
-- What a key or a page shows of its account (dropped as unused in 20261128001100; /v1/me uses it).

create or replace function tdk_get_account(p_account_id uuid) returns jsonb
language sql stable as $$
  select tdk_account_json(a) from tdk_accounts a where a.id = p_account_id and a.deleted_at is null
$$;

-- The billing page's current period: the account's billable usage since `p_from` (developer
-- price of succeeded calls that are billed), and how much of it Stripe has already been told.
create or replace function tdk_billable_usage(p_account_id uuid, p_from timestamptz) returns jsonb
language sql stable as $$
  select jsonb_build_object(
    'calls', count(*),
    'billable_micro', coalesce(sum(developer_cost_micro), 0),
    'reported_micro', coalesce(sum(developer_cost_micro) filter (where billing_status = 'reported'), 0))
  from tdk_usage
  where account_id = p_account_id and created_at >= p_from and status = 'succeeded'
    and billing_status in ('unreported', 'claimed', 'reported')
$$;

select tdk_restrict_functions_to_service_role();
