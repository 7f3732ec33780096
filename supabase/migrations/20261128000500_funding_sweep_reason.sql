-- Sweeps move a revoked key's wallet back to the treasury and are recorded with the fundings.
-- This is its own migration: a new enum value can be used only once the transaction that added it
-- has committed, and the next migration's functions use it.
alter type tdk_funding_reason add value if not exists 'sweep';
