-- Core schema: accounts, sessions, API keys with their dedicated wallets, the treasury,
-- wallet fundings, usage and billing periods.
--
-- Conventions
--   * Money is integer micro-USD (1e-6 USD = one USDC base unit) in bigint columns; SOL in lamports.
--   * Every status is a closed set (enum type), every amount is non-negative by constraint.
--   * Secrets are stored only hashed (API keys, session tokens, passwords) or encrypted
--     (wallet secrets, AES-256-GCM, see lib/crypto/).
--   * The application never touches these tables directly: it calls the SQL functions of the
--     next migrations, on PGlite, Postgres and Supabase alike.

create type tdk_tier as enum ('free', 'paid', 'pro');
create type tdk_key_status as enum ('active', 'suspended', 'revoked');
create type tdk_key_mode as enum ('live', 'test');
create type tdk_funding_status as enum ('pending', 'confirmed', 'failed');
create type tdk_funding_reason as enum ('initial', 'topup');
create type tdk_usage_status as enum ('pending', 'succeeded', 'failed', 'agent_failed');
create type tdk_billing_status as enum ('unreported', 'claimed', 'reported', 'not_billable', 'flagged');
create type tdk_period_status as enum ('draft', 'open', 'paid', 'payment_failed', 'void', 'uncollectible');

create table tdk_accounts (
  id uuid primary key default gen_random_uuid(),
  email text not null,
  password_hash text not null,
  tier tdk_tier not null default 'free',
  stripe_customer_id text unique,
  stripe_subscription_id text unique,
  -- Paid calls this calendar month (UTC), for the free tier's monthly quota; reset lazily when
  -- the month changes (ops_month is the month the counter belongs to).
  ops_this_month integer not null default 0 check (ops_this_month >= 0),
  ops_month date not null default date_trunc('month', now() at time zone 'utc')::date,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint tdk_accounts_email_normalized check (email = lower(btrim(email)) and length(email) between 3 and 254),
  constraint tdk_accounts_password_hash_is_bcrypt check (password_hash like '$2%')
);
create unique index tdk_accounts_email_key on tdk_accounts (email);

create table tdk_sessions (
  id uuid primary key default gen_random_uuid(),
  account_id uuid not null references tdk_accounts (id) on delete cascade,
  -- SHA-256 (hex) of the session token; the token itself is only ever in the user's cookie.
  token_hash text not null unique check (token_hash ~ '^[0-9a-f]{64}$'),
  created_at timestamptz not null default now(),
  expires_at timestamptz not null,
  revoked_at timestamptz,
  constraint tdk_sessions_expiry_after_creation check (expires_at > created_at)
);
create index tdk_sessions_account_idx on tdk_sessions (account_id);

create table tdk_api_keys (
  id uuid primary key default gen_random_uuid(),
  account_id uuid not null references tdk_accounts (id) on delete cascade,
  name text not null check (length(name) between 1 and 64),
  mode tdk_key_mode not null default 'live',
  -- SHA-256 (hex) of the full key: verification is one lookup on this unique index.
  key_hash text not null unique check (key_hash ~ '^[0-9a-f]{64}$'),
  -- What a human sees to recognise the key (e.g. "tk_live_3xQ9…"); never enough to use it.
  key_prefix text not null check (length(key_prefix) between 8 and 20),
  status tdk_key_status not null default 'active',
  suspended_reason text,
  -- The key's dedicated wallet (1:1): base58 public key and its AES-256-GCM encrypted secret.
  wallet_public_key text not null unique check (length(wallet_public_key) between 32 and 44),
  wallet_secret_encrypted text not null check (wallet_secret_encrypted like 'tdkenc:%'),
  -- Last balances read from the chain (cache for display and reservations; the chain is the truth).
  wallet_usdc_micro bigint not null default 0 check (wallet_usdc_micro >= 0),
  wallet_sol_lamports bigint not null default 0 check (wallet_sol_lamports >= 0),
  wallet_balances_at timestamptz,
  -- USDC held back for calls in flight (pending usage rows): spendable = wallet - reserved.
  reserved_usdc_micro bigint not null default 0 check (reserved_usdc_micro >= 0),
  created_at timestamptz not null default now(),
  last_used_at timestamptz,
  revoked_at timestamptz,
  constraint tdk_api_keys_revoked_has_time check ((status = 'revoked') = (revoked_at is not null)),
  constraint tdk_api_keys_suspension_has_reason check ((status = 'suspended') = (suspended_reason is not null))
);
create index tdk_api_keys_account_idx on tdk_api_keys (account_id, created_at);

-- One treasury: the wallet that funds every key's wallet and pays the funding fees and rent.
create table tdk_treasury (
  id smallint primary key default 1 check (id = 1),
  public_key text not null unique check (length(public_key) between 32 and 44),
  secret_encrypted text not null check (secret_encrypted like 'tdkenc:%'),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);

-- Every transfer from the treasury to a key's wallet. Recorded (pending, with the signature of
-- the already signed transaction) before it is sent, so a crash can be resolved from the chain
-- instead of sending again.
create table tdk_wallet_fundings (
  id uuid primary key default gen_random_uuid(),
  api_key_id uuid not null references tdk_api_keys (id) on delete cascade,
  wallet_public_key text not null,
  reason tdk_funding_reason not null,
  usdc_micro bigint not null check (usdc_micro >= 0),
  sol_lamports bigint not null check (sol_lamports >= 0),
  -- One transaction may fund several wallets (the top-up cron batches transfers).
  tx_signature text not null check (length(tx_signature) between 64 and 88),
  recent_blockhash text,
  status tdk_funding_status not null default 'pending',
  error text,
  created_at timestamptz not null default now(),
  resolved_at timestamptz,
  constraint tdk_wallet_fundings_something check (usdc_micro > 0 or sol_lamports > 0),
  constraint tdk_wallet_fundings_resolution check ((status = 'pending') = (resolved_at is null)),
  constraint tdk_wallet_fundings_error_only_when_failed check (error is null or status = 'failed')
);
create index tdk_wallet_fundings_key_idx on tdk_wallet_fundings (api_key_id, created_at);
create unique index tdk_wallet_fundings_tx_key on tdk_wallet_fundings (tx_signature, api_key_id);
create index tdk_wallet_fundings_pending_idx on tdk_wallet_fundings (created_at) where status = 'pending';

-- One row per paid call: written `pending` before anything is paid (the intent), then settled.
create table tdk_usage (
  id uuid primary key default gen_random_uuid(),
  request_id text not null unique,
  api_key_id uuid not null references tdk_api_keys (id) on delete restrict,
  account_id uuid not null references tdk_accounts (id) on delete restrict,
  agent_id text not null,
  agent_name text,
  status tdk_usage_status not null default 'pending',
  agent_cost_micro bigint not null check (agent_cost_micro >= 0),
  markup_bps integer not null check (markup_bps >= 0),
  developer_cost_micro bigint not null,
  tier tdk_tier not null,
  payment_intent_id text,
  -- Signature and blockhash of the signed payment, recorded before it is handed to the
  -- marketplace: with them a crashed call is resolved from the chain, never paid again.
  tx_signature text unique,
  recent_blockhash text,
  receipt_id text,
  error text,
  idempotency_key text,
  request_hash text,
  -- The answer given ({status, body}), replayed for a repeated Idempotency-Key.
  response jsonb,
  billing_status tdk_billing_status not null default 'unreported',
  billing_batch_id text,
  created_at timestamptz not null default now(),
  settled_at timestamptz,
  constraint tdk_usage_never_below_cost check (developer_cost_micro >= agent_cost_micro),
  constraint tdk_usage_settled_has_time check ((status = 'pending') = (settled_at is null)),
  constraint tdk_usage_succeeded_has_signature check (status <> 'succeeded' or tx_signature is not null)
);
create index tdk_usage_key_time_idx on tdk_usage (api_key_id, created_at desc);
create index tdk_usage_account_time_idx on tdk_usage (account_id, created_at desc);
create index tdk_usage_pending_idx on tdk_usage (created_at) where status = 'pending';
create index tdk_usage_unreported_idx on tdk_usage (account_id) where billing_status = 'unreported' and status = 'succeeded';
create unique index tdk_usage_idempotency_key on tdk_usage (api_key_id, idempotency_key) where idempotency_key is not null;

-- Monthly billing records, kept current by the Stripe invoice webhooks.
create table tdk_billing_periods (
  id uuid primary key default gen_random_uuid(),
  account_id uuid not null references tdk_accounts (id) on delete cascade,
  period_start timestamptz not null,
  period_end timestamptz not null,
  total_operations integer not null default 0 check (total_operations >= 0),
  total_cost_micro bigint not null default 0 check (total_cost_micro >= 0),
  stripe_invoice_id text unique,
  stripe_subscription_id text,
  status tdk_period_status not null default 'draft',
  paid_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint tdk_billing_periods_order check (period_end > period_start),
  constraint tdk_billing_periods_paid_has_time check ((status = 'paid') = (paid_at is not null))
);
create index tdk_billing_periods_account_idx on tdk_billing_periods (account_id, period_start desc);

-- Applied migrations, for the embedded (PGlite) and DATABASE_URL backends that migrate at start.
create table if not exists tdk_schema_migrations (
  version text primary key,
  applied_at timestamptz not null default now()
);

-- On Supabase every table in `public` is reachable through PostgREST: row level security with no
-- policy closes them to the anon and authenticated roles. The service role bypasses RLS.
alter table tdk_accounts enable row level security;
alter table tdk_sessions enable row level security;
alter table tdk_api_keys enable row level security;
alter table tdk_treasury enable row level security;
alter table tdk_wallet_fundings enable row level security;
alter table tdk_usage enable row level security;
alter table tdk_billing_periods enable row level security;
alter table tdk_schema_migrations enable row level security;
