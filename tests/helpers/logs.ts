import { existsSync, readFileSync } from "node:fs";
import path from "node:path";

/** This process's log lines, parsed (the suite sets TDK_LOG_FILE; pino writes them synchronously). */
export function logLines(): Record<string, unknown>[] {
  const file = path.resolve(process.env.TDK_LOG_FILE!.replace("{pid}", String(process.pid)));
  if (!existsSync(file)) return [];
  return readFileSync(file, "utf8")
    .split("\n")
    .filter(Boolean)
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}
