import path from "node:path";
import { existsSync } from "node:fs";
import { Worker } from "node:worker_threads";

/**
 * PGlite on a thread of its own (`lib/db/pglite-worker.mjs`), spoken to by messages: the embedded
 * default's database work off the request thread (issue 11's profile: a third of a paid call's CPU).
 * It answers what `PGliteDatabase` and the tests ask of an in-thread PGlite — query, exec,
 * transaction, close — with the same rows and the same errors' fields (code, detail, constraint).
 */

export interface QueryResult<T> {
  rows: T[];
  affectedRows?: number;
}

export interface PGliteTransaction {
  query<T = Record<string, unknown>>(text: string, params?: unknown[]): Promise<QueryResult<T>>;
  exec(text: string): Promise<unknown>;
}

/** A query outside any transaction: `prepared`, its text parsed once and only bound and executed after (lib/db/pglite-query.mjs). */
export interface QueryOptions {
  prepared?: boolean;
}

/** What the gateway, its tests and its bench use of a PGlite, in a thread or not. */
export interface PGliteClient extends PGliteTransaction {
  query<T = Record<string, unknown>>(text: string, params?: unknown[], options?: QueryOptions): Promise<QueryResult<T>>;
  transaction<T>(work: (tx: PGliteTransaction) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

/** A database error from the thread, with the Postgres fields PGlite gave it. */
export class PGliteThreadError extends Error {
  [field: string]: unknown;
  constructor(fields: Record<string, unknown>) {
    super(String(fields.message));
    Object.assign(this, fields);
    this.name = "PGliteThreadError";
  }
}

type Reply = { id: number; result?: unknown; error?: Record<string, unknown> };

/** The worker's file, loaded by Node as it is (it runs outside the bundlers): from the project's root. */
function workerFile(): string {
  const file = path.join(process.cwd(), "lib", "db", "pglite-worker.mjs");
  if (!existsSync(file))
    throw new Error(`The embedded database's thread file is missing: ${file} (start the gateway from the project's root)`);
  return file;
}

export class PGliteThread implements PGliteClient {
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();
  /** Set while a transaction runs: PGlite is one connection, so nothing else may slip into it. */
  private exclusive: Promise<void> | null = null;
  private stopped: Error | null = null;

  private constructor(private readonly worker: Worker) {
    worker.on("message", (reply: Reply) => this.settle(reply));
    const stop = (error: Error) => {
      this.stopped = error;
      for (const { reject } of this.waiting.values()) reject(error);
      this.waiting.clear();
    };
    worker.on("error", (error) => stop(new Error(`The embedded database's thread failed: ${error.message}`)));
    worker.on("exit", (code) => stop(new Error(`The embedded database's thread stopped (exit code ${code})`)));
    // An idle database thread does not keep the process alive; one with work in flight does.
    worker.unref();
  }

  /** Starts the thread and resolves once its PGlite is open on `dataDir` (null: in memory). */
  static start(dataDir: string | null): Promise<PGliteThread> {
    const worker = new Worker(workerFile(), { workerData: { dataDir } });
    return new Promise((resolve, reject) => {
      const failed = (error: Error) => {
        worker.off("message", ready);
        reject(error);
      };
      const ready = (message: { ready?: true; failed?: Record<string, unknown> }) => {
        worker.off("message", ready);
        worker.off("error", failed);
        if (message.failed) {
          void worker.terminate();
          reject(new PGliteThreadError(message.failed));
        } else {
          resolve(new PGliteThread(worker));
        }
      };
      worker.on("message", ready);
      worker.once("error", failed);
    });
  }

  // Each waits out a running transaction, and checks again after each wait (another may have begun),
  // then sends with no await in between: nothing can begin in the gap.
  async query<T = Record<string, unknown>>(text: string, params: unknown[] = [], options: QueryOptions = {}): Promise<QueryResult<T>> {
    while (this.exclusive) await this.exclusive;
    return this.send("query", text, params, options.prepared) as Promise<QueryResult<T>>;
  }

  async exec(text: string): Promise<unknown> {
    while (this.exclusive) await this.exclusive;
    return this.send("exec", text);
  }

  /** `begin` … `commit` (or `rollback` if `work` throws), with every other query held until it ends. */
  async transaction<T>(work: (tx: PGliteTransaction) => Promise<T>): Promise<T> {
    while (this.exclusive) await this.exclusive;
    let release = () => {};
    this.exclusive = new Promise<void>((resolve) => {
      release = resolve;
    });
    try {
      await this.send("exec", "begin");
      try {
        const result = await work({
          query: <R>(text: string, params: unknown[] = []) => this.send("query", text, params) as Promise<QueryResult<R>>,
          exec: (text: string) => this.send("exec", text),
        });
        await this.send("exec", "commit");
        return result;
      } catch (error) {
        await this.send("exec", "rollback").catch(() => {});
        throw error;
      }
    } finally {
      this.exclusive = null;
      release();
    }
  }

  async close(): Promise<void> {
    while (this.exclusive) await this.exclusive;
    if (!this.stopped) await this.send("close");
    await this.worker.terminate();
  }

  private send(op: "query" | "exec" | "close", text?: string, params?: unknown[], prepared = false): Promise<unknown> {
    if (this.stopped) return Promise.reject(this.stopped);
    const id = this.nextId++;
    if (this.waiting.size === 0) this.worker.ref();
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.worker.postMessage({ id, op, text, params, prepared });
    });
  }

  private settle({ id, result, error }: Reply): void {
    const waiter = this.waiting.get(id);
    if (!waiter) return;
    this.waiting.delete(id);
    if (this.waiting.size === 0) this.worker.unref();
    if (error) waiter.reject(new PGliteThreadError(error));
    else waiter.resolve(result);
  }
}
