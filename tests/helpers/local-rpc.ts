import { afterAll } from "vitest";
import { startRpcProcess, type RpcProcess } from "@/scripts/localnet";

export { LocalnetLedger, startRpcProcess, type RpcProcess } from "@/scripts/localnet";

let shared: Promise<RpcProcess> | null = null;

/** One local cluster per test file, started on first use and stopped when the file is done. */
export function sharedRpcProcess(): Promise<RpcProcess> {
  shared ??= startRpcProcess();
  return shared;
}

// Registered while the test file that imports this helper is collected: it runs after that file.
afterAll(async () => {
  const running = shared;
  shared = null;
  await (await running?.catch(() => null))?.stop();
});
