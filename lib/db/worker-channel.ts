import path from "node:path";
import { existsSync } from "node:fs";
import type { Worker } from "node:worker_threads";

/**
 * What the database clients' threads share (PGlite's, lib/db/pglite-thread.ts, and PostgreSQL's,
 * lib/db/postgres-thread.ts): their files, their errors, and requests matched to their replies.
 */

/** A database error from a database client's thread, with the Postgres fields it carried (code, detail, constraint, ...). */
export class DatabaseThreadError extends Error {
  [field: string]: unknown;
  constructor(fields: Record<string, unknown>) {
    super(String(fields.message));
    Object.assign(this, fields);
    this.name = "DatabaseThreadError";
  }
}

/** A thread's file in lib/db, loaded by Node as it is (it runs outside the bundlers): from the project's root. */
export function threadFile(name: string, thread: string): string {
  const file = path.join(process.cwd(), "lib", "db", name);
  if (!existsSync(file)) throw new Error(`The ${thread} file is missing: ${file} (start the gateway from the project's root)`);
  return file;
}

type Reply = { id: number; result?: unknown; error?: Record<string, unknown> };

/**
 * Requests to a started thread, each answered by the reply carrying its id. An idle thread does not
 * keep the process alive; one with a request in flight does. Once the thread fails or stops, every
 * request in flight and every later one is refused with why.
 */
export class WorkerChannel {
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();
  private stoppedBy: Error | null = null;

  /** `thread`: what the errors call it ("embedded database's thread"). */
  constructor(
    private readonly worker: Worker,
    private readonly thread: string,
  ) {
    worker.on("message", (reply: Reply) => this.settle(reply));
    worker.on("error", (error) => this.stop(new Error(`The ${thread} failed: ${error.message}`)));
    worker.on("exit", (code) => this.stop(new Error(`The ${thread} stopped (exit code ${code})`)));
    worker.unref();
  }

  get stopped(): boolean {
    return this.stoppedBy !== null;
  }

  send(message: Record<string, unknown>): Promise<unknown> {
    if (this.stoppedBy) return Promise.reject(this.stoppedBy);
    const id = this.nextId++;
    if (this.waiting.size === 0) this.worker.ref();
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.worker.postMessage({ id, ...message });
    });
  }

  /** Ends the thread; requests from now on are refused. */
  async terminate(): Promise<void> {
    this.stoppedBy ??= new Error(`The ${this.thread} stopped (closed)`);
    await this.worker.terminate();
  }

  private stop(error: Error): void {
    this.stoppedBy = error;
    for (const { reject } of this.waiting.values()) reject(error);
    this.waiting.clear();
  }

  private settle({ id, result, error }: Reply): void {
    const waiter = this.waiting.get(id);
    if (!waiter) return;
    this.waiting.delete(id);
    if (this.waiting.size === 0) this.worker.unref();
    if (error) waiter.reject(new DatabaseThreadError(error));
    else waiter.resolve(result);
  }
}
