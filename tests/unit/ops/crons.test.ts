import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import { describe, expect, it } from "vitest";

const root = path.resolve(__dirname, "..", "..", "..");

describe("vercel.json", () => {
  it("schedules every cron route, each with its maxDuration", async () => {
    const routes = (await readdir(path.join(root, "app", "api", "cron"), { withFileTypes: true }))
      .filter((entry) => entry.isDirectory())
      .map((entry) => `/api/cron/${entry.name}`);
    const config = JSON.parse(await readFile(path.join(root, "vercel.json"), "utf8")) as { crons: { path: string; schedule: string }[] };
    expect(config.crons.map((cron) => cron.path).sort()).toEqual(routes.sort());
    expect(routes).toContain("/api/cron/sweep-wallets");
    for (const route of routes) {
      const source = await readFile(path.join(root, "app", route, "route.ts"), "utf8");
      expect(source, route).toMatch(/export const maxDuration = \d+;/);
      expect(source, route).toContain("withCron(");
    }
  });
});
