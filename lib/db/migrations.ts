import { readdir, readFile } from "node:fs/promises";
import path from "node:path";

/** The Supabase CLI layout: `supabase/migrations/<timestamp>_<name>.sql`, applied in name order. */
export const migrationsDir = path.join(process.cwd(), "supabase", "migrations");

export interface Migration {
  version: string;
  sql: string;
}

export async function loadMigrations(dir = migrationsDir): Promise<Migration[]> {
  const files = (await readdir(dir)).filter((file) => /^\d+_[a-z0-9_]+\.sql$/.test(file)).sort();
  return Promise.all(
    files.map(async (file) => ({ version: file.replace(/\.sql$/, ""), sql: await readFile(path.join(dir, file), "utf8") })),
  );
}

/** A transaction on the database being migrated. */
export interface MigrationTransaction {
  exec(sql: string): Promise<void>;
  appliedVersions(): Promise<Set<string>>;
}

/** What a backend must offer to be migrated: transactions serialised against other instances. */
export interface MigrationTarget {
  transaction(work: (tx: MigrationTransaction) => Promise<void>): Promise<void>;
}

export const migrationsLedgerSql = `create table if not exists tdk_schema_migrations (
  version text primary key, applied_at timestamptz not null default now())`;

/** Applies every migration not yet recorded, each in its own transaction together with its record. */
export async function migrate(target: MigrationTarget, migrations?: Migration[]): Promise<string[]> {
  const all = migrations ?? (await loadMigrations());
  const applied: string[] = [];
  for (const migration of all) {
    await target.transaction(async (tx) => {
      await tx.exec(migrationsLedgerSql);
      // Checked inside the serialised transaction: another instance may have just applied it.
      if ((await tx.appliedVersions()).has(migration.version)) return;
      await tx.exec(migration.sql);
      await tx.exec(`insert into tdk_schema_migrations (version) values ('${migration.version.replace(/'/g, "''")}')`);
      applied.push(migration.version);
    });
  }
  return applied;
}
