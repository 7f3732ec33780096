import { rmSync } from "node:fs";
import { logsDir } from "./helpers/secrets";

/** Every run starts with an empty log directory: the log scan (tests/log-scan) reads this run's logs only. */
export function setup(): void {
  rmSync(logsDir, { recursive: true, force: true });
}
