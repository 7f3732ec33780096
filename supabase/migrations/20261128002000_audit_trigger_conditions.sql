-- The audit triggers fire only when something they write down changed (issue 11: each paid call
-- updates its key and its account twice, moving money counters only, and every one of those
-- updates ran the audit function to find nothing to log: about 50 µs of PGlite each). The
-- conditions are the functions' own, so what is logged is unchanged; a WHEN clause cannot read OLD
-- on INSERT, so keys get an insert trigger and an update trigger.
drop trigger if exists tdk_api_keys_audit on tdk_api_keys;
create trigger tdk_api_keys_audit_insert after insert on tdk_api_keys
  for each row execute function tdk_audit_api_keys();
create trigger tdk_api_keys_audit after update on tdk_api_keys
  for each row when (
    new.key_hash is distinct from old.key_hash
    or new.status is distinct from old.status
    or (new.spend_limit_micro, new.spend_limit_period) is distinct from (old.spend_limit_micro, old.spend_limit_period)
    or (new.swept_at is not null and old.swept_at is null)
  ) execute function tdk_audit_api_keys();

drop trigger if exists tdk_accounts_audit on tdk_accounts;
create trigger tdk_accounts_audit after update on tdk_accounts
  for each row when (
    new.suspended_reason is distinct from old.suspended_reason
    or new.tier is distinct from old.tier
    or (new.deleted_at is not null and old.deleted_at is null)
  ) execute function tdk_audit_accounts();
