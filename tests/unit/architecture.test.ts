import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";

/**
 * The layout's rules, checked on the sources: SQL functions are called from one store module per
 * domain, and routes and pages reach everything through the services.
 */
const root = path.resolve(__dirname, "..", "..");

function sources(dir: string): string[] {
  return readdirSync(path.join(root, dir), { recursive: true, encoding: "utf8" })
    .filter((file) => /\.tsx?$/.test(file))
    .map((file) => path.join(dir, file).split(path.sep).join("/"));
}

const read = (file: string) => readFileSync(path.join(root, file), "utf8");
const isStore = (file: string) => /^lib\/[a-z]+\/[a-z-]*store\.ts$/.test(file);

describe("architecture", () => {
  it("calls SQL functions only from the domains' store modules (and the database layer)", () => {
    const offenders = [...sources("lib"), ...sources("app"), ...sources("scripts")].filter((file) => {
      if (isStore(file) || file.startsWith("lib/db/")) return false;
      const text = read(file);
      return /\bcallFunction\(/.test(text) || /\.call\(\s*"tdk_/.test(text);
    });
    expect(offenders).toEqual([]);
    // The stores exist and hold the calls.
    const stores = sources("lib").filter(isStore);
    expect(stores.length).toBeGreaterThanOrEqual(6);
    for (const store of stores) expect(read(store), store).toMatch(/callFunction\(/);
  });

  it("routes, pages and server actions use the services, never the app context's parts or the database directly", () => {
    const offenders = sources("app").filter((file) => /from "@\/lib\/(context|db)"/.test(read(file)));
    expect(offenders).toEqual([]);
  });
});
