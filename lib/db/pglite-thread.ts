import { Worker } from "node:worker_threads";
import { DatabaseThreadError, threadFile, WorkerChannel } from "./worker-channel";

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

export class PGliteThread implements PGliteClient {
  private readonly channel: WorkerChannel;
  /** Set while a transaction runs: PGlite is one connection, so nothing else may slip into it. */
  private exclusive: Promise<void> | null = null;

  private constructor(worker: Worker) {
    this.channel = new WorkerChannel(worker, "embedded database's thread");
  }

  /** Starts the thread and resolves once its PGlite is open on `dataDir` (null: in memory). */
  static start(dataDir: string | null): Promise<PGliteThread> {
    const worker = new Worker(threadFile("pglite-worker.mjs", "embedded database's thread"), { workerData: { dataDir } });
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
          reject(new DatabaseThreadError(message.failed));
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
    if (!this.channel.stopped) await this.send("close");
    await this.channel.terminate();
  }

  private send(op: "query" | "exec" | "close", text?: string, params?: unknown[], prepared = false): Promise<unknown> {
    return this.channel.send({ op, text, params, prepared });
  }
}
