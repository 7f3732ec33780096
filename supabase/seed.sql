-- Seed data for `supabase db reset` on a local Supabase stack.
-- Nothing is seeded on purpose: accounts, keys and the treasury hold secrets or wallets and are
-- created by the gateway itself (sign-up, key creation, `scripts/treasury.ts`), never from a file
-- that could end up in git.
select 1;
