#!/usr/bin/env node
// Makes sure Debian's Chromium is there for the browser test (`npm test` runs this first).
// Playwright's own browser download cannot work here (no network but the package registries),
// so the test drives the system Chromium through playwright-core. When it is missing and we are
// root on Debian, it is installed with apt-get; otherwise the message says what to do.
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";

const candidates = [process.env.CHROMIUM_PATH, "/usr/bin/chromium", "/usr/bin/chromium-browser"].filter(Boolean);
if (candidates.some((path) => existsSync(path))) process.exit(0);

const isRoot = typeof process.getuid === "function" && process.getuid() === 0;
if (isRoot && existsSync("/usr/bin/apt-get")) {
  console.log("[ensure-chromium] Chromium not found: installing Debian's chromium package…");
  const apt = (args) => execFileSync("apt-get", args, { stdio: "inherit", env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" } });
  apt(["update", "-qq"]);
  apt(["install", "-y", "-qq", "--no-install-recommends", "chromium"]);
  if (existsSync("/usr/bin/chromium")) process.exit(0);
}
console.error(
  "[ensure-chromium] The browser test needs Chromium. Install it (Debian/Ubuntu: `sudo apt-get install chromium`) " +
    "or point CHROMIUM_PATH at a Chromium binary.",
);
process.exit(1);
