#!/usr/bin/env node
// Prints a fresh WALLET_ENCRYPTION_KEY (32 random bytes as 64 hex chars) to standard output.
// Put it in your secret store / Vercel environment; never commit it. Rotating? Keep the old one as
// WALLET_ENCRYPTION_OLD_KEYS="<old version>:<old key>" and raise WALLET_ENCRYPTION_KEY_VERSION.
import { randomBytes } from "node:crypto";

process.stdout.write(`${randomBytes(32).toString("hex")}\n`);
