import { Worker } from "node:worker_threads";
import { threadFile, WorkerChannel } from "./worker-channel";

/**
 * The PostgreSQL client on a thread of its own (`lib/db/postgres-worker.mjs`), spoken to by
 * messages, as the embedded database is (lib/db/pglite-thread.ts): the work of speaking
 * PostgreSQL's protocol off the request thread. It only calls functions: migrations, and the tests'
 * raw SQL, go through a pool on the calling thread (PostgresDatabase).
 */
export class PostgresThread {
  private constructor(private readonly channel: WorkerChannel) {}

  /** Starts the thread with its pool of at most `max` connections to `url` (opened as queries need them). */
  static start(url: string, max: number): Promise<PostgresThread> {
    const thread = "PostgreSQL client's thread";
    const worker = new Worker(threadFile("postgres-worker.mjs", thread), { workerData: { url, max } });
    return new Promise((resolve, reject) => {
      worker.once("error", reject);
      worker.once("message", () => {
        worker.off("error", reject);
        resolve(new PostgresThread(new WorkerChannel(worker, thread)));
      });
    });
  }

  /** The first row's `result` of the statement (null for none); a database error keeps its Postgres fields. */
  query(text: string, values: (string | null)[]): Promise<unknown> {
    return this.channel.send({ text, values });
  }

  /** Ends the pool's connections, then the thread; later calls are refused. */
  async close(): Promise<void> {
    if (!this.channel.stopped) await this.channel.send({ op: "close" });
    await this.channel.terminate();
  }
}
