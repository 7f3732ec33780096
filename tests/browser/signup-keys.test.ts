import { spawnSync } from "node:child_process";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { mkdir, mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chromium, type Browser, type Page } from "playwright-core";
import { chromiumArgs, chromiumPath, startApp, startExpectingRefusal, type RunningApp } from "../helpers/server";
import { signWebhook, stripeEvent } from "../helpers/stripe-events";
import { recordSecret } from "../helpers/secrets";
import { resetLinkIn, startSmtpServer, type SmtpStandIn } from "../helpers/smtp";
import { startStripeStandIn, type StripeStandIn } from "../helpers/stripe-standin";
import { demoAgents } from "@/lib/agents/demo-agents";

const artifacts = path.resolve(__dirname, "..", "..", "test-results");
let app: RunningApp;
let browser: Browser;
let stripe: StripeStandIn;
let smtp: SmtpStandIn;

beforeAll(async () => {
  await mkdir(artifacts, { recursive: true });
  stripe = await startStripeStandIn();
  smtp = await startSmtpServer();
  app = await startApp({
    SMTP_URL: smtp.url,
    STRIPE_SECRET_KEY: stripe.secretKey,
    STRIPE_WEBHOOK_SECRET: WEBHOOK_SECRET,
    STRIPE_API_BASE: stripe.url,
    STRIPE_PRICE_PAID: "price_paid_browser",
  });
  browser = await chromium.launch({ executablePath: chromiumPath(), args: chromiumArgs });
});

afterAll(async () => {
  await browser?.close();
  await app?.stop();
  await stripe?.close();
  await smtp?.close();
});

const WEBHOOK_SECRET = "whsec_browser";

/**
 * The free tier's card verification as a user does it: the dashboard's button, Stripe Checkout in
 * setup mode (the stand-in), and Stripe's signed webhook to the running gateway.
 */
async function verifyCard(page: Page, cardFingerprint: string) {
  await page.goto(`${app.url}/dashboard`);
  await page.route("https://checkout.stripe.test/**", (route) =>
    route.fulfill({ status: 200, contentType: "text/html", body: "<h1>Stripe Checkout</h1>" }),
  );
  await page.getByRole("button", { name: /Verify a card/ }).click();
  await page.waitForURL("https://checkout.stripe.test/**");
  const completed = stripe.completeCheckout(page.url().split("/").at(-1)!, { cardFingerprint });
  expect(completed.mode).toBe("setup");
  const payload = stripeEvent("checkout.session.completed", completed);
  const delivered = await fetch(`${app.url}/api/webhooks/stripe`, {
    method: "POST",
    headers: { "content-type": "application/json", "stripe-signature": signWebhook(payload, WEBHOOK_SECRET) },
    body: payload,
  });
  expect(delivered.status).toBe(200);
  await page.goto(`${app.url}/dashboard`);
  expect(await page.getByRole("button", { name: /Verify a card/ }).count()).toBe(0);
}

describe("the web pages in real Chromium", () => {
  it("signs up, logs in, creates a key, sees it exactly once, and revokes it", async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    const email = `browser-${Date.now()}@example.com`;
    const password = "browser-test-42!";

    await page.goto(`${app.url}/`);
    await page.getByRole("link", { name: "Sign up" }).first().click();
    await page.waitForURL("**/signup");

    // A weak password is refused in the form, with the field's message.
    await page.getByLabel("Email").fill(email);
    await page.getByLabel("Password").fill("short");
    await page.getByRole("button", { name: "Create account" }).click();
    await expect.poll(() => page.locator("#signup-error").textContent()).toContain("correct the fields");
    expect(await page.locator("#signup-password-error").textContent()).toMatch(/at least 10 characters/);

    await page.getByLabel("Password").fill(password);
    await page.getByRole("button", { name: "Create account" }).click();
    // Signed up is logged in; then out, and in again through the log-in form.
    await page.waitForURL("**/dashboard");
    await page.getByRole("button", { name: "Log out" }).click();
    await page.waitForURL("**/login");
    await page.getByLabel("Email").fill(email);

    await page.getByLabel("Password").fill(password);
    await page.getByRole("button", { name: "Log in" }).click();
    await page.waitForURL("**/dashboard");
    await page.getByRole("link", { name: "API keys" }).click();
    await page.waitForURL("**/keys");
    const cookies = await context.cookies();
    const session = cookies.find((cookie) => cookie.name === "tdk_session")!;
    recordSecret(session.value);
    expect(session).toMatchObject({ httpOnly: true, secure: true, sameSite: "Lax" });

    // With billing on, a free account's keys are funded once it verified a card.
    expect(await page.getByRole("link", { name: "verify a card" }).count()).toBe(1);
    await page.getByLabel("Key name (optional)").fill("before the card");
    await page.getByRole("button", { name: "Create API key" }).click();
    await page.getByTestId("new-api-key").waitFor();
    expect(await page.getByTestId("new-key-usdc").textContent()).toBe("0.000000");
    expect(await page.getByTestId("new-key-not-funded").textContent()).toContain("verify a card first");

    await verifyCard(page, `fp_browser_${Date.now()}`);
    await page.goto(`${app.url}/keys`);
    await page.getByLabel("Key name (optional)").fill("from the browser");
    await page.getByRole("button", { name: "Create API key" }).click();
    const shown = page.getByTestId("new-api-key");
    await shown.waitFor();
    const apiKey = (await shown.textContent())!;
    recordSecret(apiKey);
    expect(apiKey).toMatch(/^tk_test_[1-9A-HJ-NP-Za-km-z]{40,48}$/);
    // 10 USDC asked for; a free account's wallets get 5 USDC a day.
    expect(await page.getByTestId("new-key-usdc").textContent()).toBe("5.000000");
    expect(await page.getByTestId("new-key-sol").textContent()).toBe("0.010000000");
    const wallet = (await page.getByTestId("new-key-wallet").textContent())!;
    await page.screenshot({ path: path.join(artifacts, "keys-after-create.png"), fullPage: true });

    // The table lists the key by its prefix and wallet; after a reload the full key is gone for good.
    const row = page.getByTestId("key-row").filter({ hasText: "from the browser" });
    await expect.poll(() => row.count()).toBe(1);
    expect(await row.textContent()).toContain(apiKey.slice(0, 12));
    expect(await row.textContent()).toContain(wallet);
    await page.reload();
    expect(await page.content()).not.toContain(apiKey);
    expect(await page.getByTestId("new-api-key").count()).toBe(0);

    // The same key works against the JSON API with the session cookie: listed, never in full.
    const listed = await page.request.get(`${app.url}/api/tdk/keys`);
    expect(listed.status()).toBe(200);
    const body = await listed.json();
    expect(body.keys).toHaveLength(2);
    expect(JSON.stringify(body)).not.toContain(apiKey);

    await page.getByRole("button", { name: /Revoke key from the browser/ }).click();
    await expect.poll(() => page.getByTestId("key-row").first().textContent()).toContain("revoked");

    // The spend-limit form sets the key's limit, as PATCH /api/tdk/keys/{id} does.
    const otherRow = page.getByTestId("key-row").filter({ hasText: "before the card" });
    await otherRow.getByLabel(/Spend limit in USD/).fill("2.5");
    await otherRow.getByLabel("Period").selectOption("week");
    await otherRow.getByRole("button", { name: "Set limit" }).click();
    await expect.poll(() => otherRow.getByTestId("spend-limit").textContent()).toContain("2.500000 USD per week: 2.500000 left");

    // The upgrade button sends the browser to Stripe Checkout for the metered paid price.
    await page.getByRole("button", { name: /Upgrade to paid/ }).click();
    await page.waitForURL("https://checkout.stripe.test/**");
    const checkoutRequest = stripe.requests.find((r) => r.path === "/v1/checkout/sessions" && r.body.mode === "subscription")!;
    expect(checkoutRequest.body).toMatchObject({ mode: "subscription", line_items: { "0": { price: "price_paid_browser" } } });

    expect(app.output()).not.toContain(apiKey);
    expect(app.output()).not.toContain(session.value);
    await context.close();
  });

  it("works without client-side JavaScript: log in and create a key with plain form posts", async () => {
    const email = `nojs-${Date.now()}@example.com`;
    const password = "no-script-42!";
    const register = await fetch(`${app.url}/api/tdk/auth/register`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ email, password }),
    });
    expect(register.status).toBe(201);

    const context = await browser.newContext({ javaScriptEnabled: false });
    const page = await context.newPage();
    await page.goto(`${app.url}/login`);
    await page.getByLabel("Email").fill(email);
    await page.getByLabel("Password").fill(password);
    await page.getByRole("button", { name: "Log in" }).click();
    await page.waitForURL("**/dashboard");
    await page.getByRole("button", { name: "Create API key" }).click();
    await page.getByTestId("new-api-key").waitFor();
    expect(await page.getByTestId("new-api-key").textContent()).toMatch(/^tk_test_/);
    await context.close();
  });

  it("dashboard: sign up, create a key, call with it; the call shows in recent calls and today's chart totals equal the usage rows", async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    const email = `dashboard-${Date.now()}@example.com`;
    const password = "dashboard-test-42!";

    await page.goto(`${app.url}/signup`);
    await page.getByLabel("Email").fill(email);
    await page.getByLabel("Password").fill(password);
    await page.getByRole("button", { name: "Create account" }).click();
    await page.waitForURL("**/dashboard");
    expect(await page.getByTestId("quota-used").textContent()).toBe("0");
    await verifyCard(page, `fp_dashboard_${Date.now()}`);

    await page.getByLabel("Key name (optional)").fill("dashboard key");
    await page.getByRole("button", { name: "Create API key" }).click();
    await page.getByTestId("new-api-key").waitFor();
    const apiKey = (await page.getByTestId("new-api-key").textContent())!;
    recordSecret(apiKey);

    // The program's side: two calls with the key that was shown.
    const requestIds: string[] = [];
    for (const body of [
      { agent_id: "warmmemory", input: { action: "store", key: "theme", value: "dark" } },
      { agent_id: "sentiment", input: { text: "great and fast" } },
    ]) {
      const res = await fetch(`${app.url}/api/tdk/v1/call`, {
        method: "POST",
        headers: { authorization: `Bearer ${apiKey}`, "content-type": "application/json" },
        body: JSON.stringify(body),
      });
      expect(res.status).toBe(200);
      requestIds.push(((await res.json()) as { usage: { request_id: string } }).usage.request_id);
    }

    await page.reload();
    const recent = page.getByTestId("recent-call");
    await expect.poll(() => recent.count()).toBe(2);
    expect(await recent.evaluateAll((rows) => rows.map((row) => row.getAttribute("data-request-id")))).toEqual([...requestIds].reverse());
    expect(await recent.first().textContent()).toContain("sentiment");
    const link = await recent.first().locator("a").getAttribute("href");
    expect(link).toMatch(/^https:\/\/explorer\.solana\.com\/tx\//);

    // The chart's bar for today holds exactly what the usage rows say.
    const usage = (await (await page.request.get(`${app.url}/api/tdk/usage`)).json()) as {
      usage: { created_at: string; developer_cost_usd: string }[];
    };
    const today = new Date().toISOString().slice(0, 10);
    const todayRows = usage.usage.filter((row) => row.created_at.slice(0, 10) === today);
    const bar = page.locator(`[data-testid="chart-day"][data-day="${today}"]`);
    expect(Number(await bar.getAttribute("data-calls"))).toBe(todayRows.length);
    // The chart shows the cost at the developer price (this free account is billed nothing for it).
    const micro = (usd: string) => Number(usd.replace(".", ""));
    expect(Number(await bar.getAttribute("data-spend-micro"))).toBe(todayRows.reduce((sum, row) => sum + micro(row.developer_cost_usd), 0));
    expect(await page.getByTestId("quota-used").textContent()).toBe("2");
    expect(await page.getByTestId("spend-today").textContent()).toContain("0.009000");
    await page.screenshot({ path: path.join(artifacts, "dashboard.png"), fullPage: true });

    // Docs: the quickstart carries this user's key prefix; every error code is explained.
    await page.goto(`${app.url}/docs`);
    expect(await page.getByTestId("quickstart-curl").textContent()).toContain(apiKey.slice(0, 12));
    expect(await page.getByTestId("quickstart-curl").textContent()).toContain(`${app.url}/api/tdk/v1/call`);
    // Every active agent is listed; the SOL-priced one without a USD price.
    expect(await page.getByTestId("agent-row").count()).toBe(demoAgents().length);
    expect(await page.getByTestId("agent-row").filter({ hasText: "solquote" }).textContent()).toContain("priced in SOL");
    expect(await page.getByTestId("error-row").count()).toBeGreaterThan(25);
    expect(await page.getByTestId("reference-operation").count()).toBeGreaterThanOrEqual(14);
    await page.screenshot({ path: path.join(artifacts, "docs.png"), fullPage: true });
    await context.close();
  });
});

describe("a production start on a bad configuration", () => {
  it("stops the server at start with the configuration's message, instead of answering 500 on every request", async () => {
    // The build startApp made, started as production without the parts production needs.
    const embedded = await startExpectingRefusal({ NODE_ENV: "production" });
    expect(embedded.code).toBe(1);
    expect(embedded.output).toMatch(/refusing to start: Refusing to start in production on embedded parts: database \(PGlite/);
    const noSharedLimiter = await startExpectingRefusal({ NODE_ENV: "production", TDK_ALLOW_EMBEDDED: "1" });
    expect(noSharedLimiter.code).toBe(1);
    expect(noSharedLimiter.output).toMatch(/without a shared rate limiter/);
  });

  it("self-service without JavaScript: sign-up → key → call → usage filter → CSV → billing → rotate → password reset → delete account", async () => {
    const context = await browser.newContext({ javaScriptEnabled: false, acceptDownloads: true, viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    const shot = (name: string) => page.screenshot({ path: path.join(artifacts, `nojs-${name}.png`), fullPage: true });
    const email = `walk-${Date.now()}@example.com`;
    const password = "walk-through-42!";

    // Sign-up logs in.
    await page.goto(`${app.url}/signup`);
    await shot("signup");
    await page.getByLabel("Email").fill(email);
    await page.getByLabel("Password").fill(password);
    await page.getByRole("button", { name: "Create account" }).click();
    await page.waitForURL("**/dashboard");
    await verifyCard(page, `fp_walk_${Date.now()}`);
    await shot("dashboard");

    // A key, shown once.
    await page.goto(`${app.url}/keys`);
    await page.getByLabel("Key name (optional)").fill("walk key");
    await page.getByRole("button", { name: "Create API key" }).click();
    const apiKey = (await page.getByTestId("new-api-key").textContent())!;
    recordSecret(apiKey);
    expect(apiKey).toMatch(/^tk_test_/);
    await shot("keys");

    // The program's side: calls with the key, and what the key knows of itself.
    const callWith = (key: string, body: unknown) =>
      fetch(`${app.url}/api/tdk/v1/call`, {
        method: "POST",
        headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
        body: JSON.stringify(body),
      });
    expect((await callWith(apiKey, { agent_id: "warmmemory", input: { action: "store", key: "k", value: "v" } })).status).toBe(200);
    expect((await callWith(apiKey, { agent_id: "textstats", input: { text: "one two three" } })).status).toBe(200);
    expect((await callWith(apiKey, { agent_id: "textstats", input: { text: "four" } })).status).toBe(200);
    const meBefore = await (await fetch(`${app.url}/api/tdk/v1/me`, { headers: { authorization: `Bearer ${apiKey}` } })).json();
    expect(meBefore.quota.calls_this_month).toBe(3);

    // Usage: filter by agent and status; every row labelled as the free tier's, not billed.
    await page.goto(`${app.url}/usage`);
    await expect.poll(() => page.getByTestId("usage-row").count()).toBe(3);
    await page.locator('select[name="agent_id"]').selectOption({ label: "textstats" });
    await page.locator('select[name="status"]').selectOption("succeeded");
    await page.getByRole("button", { name: "Filter" }).click();
    await page.waitForURL("**/usage?**agent_id=**");
    expect(await page.getByTestId("usage-row").count()).toBe(2);
    expect(await page.getByTestId("billing-note").allTextContents()).toEqual(["free tier: not billed", "free tier: not billed"]);
    await shot("usage-filtered");
    // The CSV holds the same rows (every page of them).
    const [download] = await Promise.all([page.waitForEvent("download"), page.getByTestId("csv-download").click()]);
    const csv = await readFile((await download.path())!, "utf8");
    const lines = csv.trim().split("\r\n");
    expect(lines).toHaveLength(3);
    expect(lines.slice(1).every((line) => line.includes("textstats") && line.includes(",succeeded,"))).toBe(true);

    // Billing: plan and the current period.
    await page.goto(`${app.url}/billing`);
    expect(await page.getByTestId("billing-tier").textContent()).toBe("free");
    expect(await page.getByTestId("current-period").textContent()).toContain("never billed");
    expect(await page.getByRole("button", { name: /Manage billing/ }).count()).toBe(1);
    await shot("billing");

    // Rotate: a new secret for the same key and wallet; the memory stored before is read with it.
    await page.goto(`${app.url}/keys`);
    const row = page.getByTestId("key-row").filter({ hasText: "walk key" });
    await row.getByLabel("Keep the old secret of walk key working for").selectOption("1");
    await row.getByRole("button", { name: "Rotate walk key" }).click();
    const rotated = (await page.getByTestId("rotated-api-key").textContent())!;
    recordSecret(rotated);
    expect(rotated).toMatch(/^tk_test_/);
    expect(rotated).not.toBe(apiKey);
    await shot("keys-rotated");
    const read = await callWith(rotated, { agent_id: "warmmemory", input: { action: "get", key: "k" } });
    expect((await read.json()).output).toEqual({ found: true, key: "k", value: "v" });
    const meAfter = await (await fetch(`${app.url}/api/tdk/v1/me`, { headers: { authorization: `Bearer ${rotated}` } })).json();
    expect(meAfter.key.wallet.public_key).toBe(meBefore.key.wallet.public_key);

    // The docs list the key's own endpoint.
    await page.goto(`${app.url}/docs`);
    expect(await page.content()).toContain("/api/tdk/v1/me");

    // Forgotten password: the mail reaches the SMTP server; its link works once.
    await page.goto(`${app.url}/account`);
    await shot("account");
    const out = await browser.newContext({ javaScriptEnabled: false });
    const anonymous = await out.newPage();
    await anonymous.goto(`${app.url}/forgot-password`);
    const mailsBefore = smtp.mails.length;
    await anonymous.getByLabel("Email").fill(email);
    await anonymous.getByRole("button", { name: "Send me a reset link" }).click();
    await anonymous.getByTestId("reset-requested").waitFor();
    await anonymous.screenshot({ path: path.join(artifacts, "nojs-forgot-password.png"), fullPage: true });
    await expect.poll(() => smtp.mails.length).toBe(mailsBefore + 1);
    const link = resetLinkIn(smtp.mails.at(-1)!).replace(/^https?:\/\/[^/]+/, app.url);
    await anonymous.goto(link);
    await anonymous.getByLabel("New password").fill("walk-reset-77!");
    await anonymous.screenshot({ path: path.join(artifacts, "nojs-reset-password.png"), fullPage: true });
    await anonymous.getByRole("button", { name: "Set new password" }).click();
    await anonymous.waitForURL("**/login?reset=1");
    await anonymous.goto(link);
    await anonymous.getByLabel("New password").fill("walk-again-88!");
    await anonymous.getByRole("button", { name: "Set new password" }).click();
    await expect.poll(() => anonymous.getByRole("alert").textContent()).toContain("invalid, used or expired");
    await out.close();
    // The reset logged every session out: this browser logs in again, with the new password.
    await page.goto(`${app.url}/dashboard`);
    await page.waitForURL("**/login");
    await page.getByLabel("Email").fill(email);
    await page.getByLabel("Password").fill("walk-reset-77!");
    await page.getByRole("button", { name: "Log in" }).click();
    await page.waitForURL("**/dashboard");

    // Delete the account: logged out, the key refused, the email free again.
    await page.goto(`${app.url}/account`);
    await page.getByLabel("Your password, to confirm").fill("walk-reset-77!");
    await page.getByRole("button", { name: "Delete my account" }).click();
    await page.waitForURL("**/?deleted=1");
    await shot("deleted");
    const refused = await callWith(rotated, { agent_id: "textstats", input: { text: "after" } });
    expect(refused.status).toBe(401);
    await page.goto(`${app.url}/dashboard`);
    await page.waitForURL("**/login");

    expect(app.output()).not.toContain(apiKey);
    expect(app.output()).not.toContain(rotated);
    await context.close();
  });

  it("operator console in Chromium: granted from the command line; search, suspend, lift — each in the audit log; a non-admin gets 404", async () => {
    const dataDir = await mkdtemp(path.join(tmpdir(), "tdk-console-"));
    const register = async (url: string, email: string) => {
      const res = await fetch(`${url}/api/tdk/auth/register`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ email, password: "console-test-42!" }),
      });
      expect(res.status).toBe(201);
      recordSecret(((await res.json()) as { session_token: string }).session_token);
    };
    const operatorEmail = `operator-${Date.now()}@example.com`;
    const developerEmail = `developer-${Date.now()}@example.com`;
    // The gateway on its own database; the role is granted with the gateway stopped (one process opens the embedded database).
    let gateway = await startApp({}, { build: false, dataDir });
    try {
      await register(gateway.url, operatorEmail);
      await register(gateway.url, developerEmail);
      await gateway.stop();
      const tsx = path.join(__dirname, "..", "..", "node_modules", ".bin", "tsx");
      const granted = spawnSync(tsx, ["--tsconfig", "tsconfig.json", "scripts/admin.ts", "grant", operatorEmail], {
        cwd: path.join(__dirname, "..", ".."),
        env: { ...process.env, TDK_DATA_DIR: dataDir },
        encoding: "utf8",
      });
      expect(granted.status, granted.stderr).toBe(0);
      expect(granted.stdout).toContain("is now an admin");
      gateway = await startApp({}, { build: false, dataDir });

      const logIn = async (page: Page, email: string) => {
        await page.goto(`${gateway.url}/login`);
        await page.getByLabel("Email").fill(email);
        await page.getByLabel("Password").fill("console-test-42!");
        await page.getByRole("button", { name: "Log in" }).click();
        await page.waitForURL("**/dashboard");
      };

      // A non-admin, and nobody at all, get a plain 404 on every console page.
      const outsider = await browser.newContext({ javaScriptEnabled: false });
      const anonymous = await outsider.newPage();
      for (const route of ["/admin", "/admin?q=x", "/admin/accounts/00000000-0000-4000-8000-000000000000"]) {
        expect((await anonymous.goto(`${gateway.url}${route}`))!.status(), route).toBe(404);
      }
      const developerPage = await outsider.newPage();
      await logIn(developerPage, developerEmail);
      for (const route of ["/admin", "/admin/accounts/00000000-0000-4000-8000-000000000000"]) {
        expect((await developerPage.goto(`${gateway.url}${route}`))!.status(), route).toBe(404);
      }
      await outsider.close();

      const context = await browser.newContext({ javaScriptEnabled: false, viewport: { width: 1280, height: 900 } });
      const page = await context.newPage();
      await logIn(page, operatorEmail);
      await page.goto(`${gateway.url}/admin`);
      await page.getByLabel(/Account \(email/).fill(developerEmail);
      await page.getByRole("button", { name: "Search" }).click();
      await expect.poll(() => page.getByTestId("admin-match").count()).toBe(1);
      // The reconcile cron has not found anything on this new gateway: the console says so.
      expect(await page.getByTestId("no-differences").count()).toBe(1);
      await page.screenshot({ path: path.join(artifacts, "console-search.png"), fullPage: true });
      await page.getByRole("link", { name: developerEmail }).click();
      await page.waitForURL("**/admin/accounts/**");

      await page.getByLabel("Reason").fill("fraud review");
      await page.getByRole("button", { name: "Suspend" }).click();
      await page.waitForURL("**?done=suspended");
      expect(await page.getByTestId("admin-suspension").textContent()).toContain("Suspended (fraud_review)");
      await page.getByRole("button", { name: "Lift the suspension" }).click();
      await page.waitForURL("**?done=lifted");
      expect(await page.getByTestId("admin-suspension").textContent()).toBe("Not suspended");
      await page.screenshot({ path: path.join(artifacts, "console-account.png"), fullPage: true });

      // Each action is in the account's audit log, by this operator.
      const audit = page.getByTestId("admin-audit");
      const actions = await audit.evaluateAll((rows) =>
        rows.map((row) => `${row.getAttribute("data-action")} ${row.getAttribute("data-actor")}`),
      );
      expect(actions.filter((entry) => entry.startsWith("account.suspen"))).toEqual([
        expect.stringMatching(/^account\.suspension_lifted operator:/),
        expect.stringMatching(/^account\.suspended operator:/),
      ]);
      await context.close();
    } finally {
      await gateway.stop();
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});

describe("the production build's route runtime", () => {
  it("answers each request without looking again for a file it did not find (Next.js's optional manifests)", async () => {
    // The build startApp made, with every synchronous read of a missing file reported on stderr.
    const probe = path.resolve(__dirname, "..", "helpers", "missing-file-probe.cjs");
    const probed = await startApp({ NODE_OPTIONS: `--require ${probe}` }, { build: false });
    try {
      const routes = ["/api/health/live", "/api/openapi.json", "/api/tdk/v1/agents", "/login"];
      const visit = async () => {
        for (const route of routes) expect((await fetch(`${probed.url}${route}`)).status).toBe(200);
      };
      const misses = () => probed.output().match(/^missing-file-probe: .*$/gm) ?? [];
      // Once each: a route's first answer may look for what it then remembers it lacks.
      await visit();
      const afterFirst = misses();
      for (let round = 0; round < 5; round += 1) await visit();
      // Next.js 15.5 caches the manifests it finds, not those it does not: before the build wrote
      // the two it always lacks, every request read (and failed to read) both again.
      expect(misses().slice(afterFirst.length)).toEqual([]);
    } finally {
      await probed.stop();
    }
  });
});

describe("traces", () => {
  /** An OTLP/HTTP collector stand-in: what reached it, by path (the bodies are protobuf; span names are plain strings in them). */
  async function startCollector(port = 0) {
    const received: { path: string; body: Buffer }[] = [];
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (chunk: Buffer) => chunks.push(chunk));
      req.on("end", () => {
        received.push({ path: req.url ?? "", body: Buffer.concat(chunks) });
        res.writeHead(200, { "content-type": "application/x-protobuf" }).end();
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", (error) => reject(new Error(`the collector stand-in cannot listen on ${port}: ${error.message}`)));
      server.listen(port, "127.0.0.1", resolve);
    });
    return {
      url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      received,
      close: () => new Promise<void>((resolve) => server.close(() => resolve())),
    };
  }

  /** A JSON POST to the gateway, with a bearer token when given; its status and body. */
  async function postJson(url: string, route: string, body: unknown, bearer?: string) {
    const res = await fetch(`${url}${route}`, {
      method: "POST",
      headers: { "content-type": "application/json", ...(bearer ? { authorization: `Bearer ${bearer}` } : {}) },
      body: JSON.stringify(body),
    });
    return { status: res.status, json: (await res.json()) as Record<string, any> };
  }

  /** Requests that make spans: Next.js's for each request, and a paid call's steps (a free account, no Stripe: no card asked). */
  async function makeSpans(url: string) {
    const registered = await postJson(url, "/api/tdk/auth/register", {
      email: `traces-${Date.now()}@example.com`,
      password: "traces-test-42!",
    });
    expect(registered.status).toBe(201);
    const session = registered.json.session_token as string;
    recordSecret(session);
    const generated = await postJson(url, "/api/tdk/keys/generate", { name: "traces" }, session);
    expect(generated.status).toBe(201);
    const apiKey = generated.json.api_key as string;
    recordSecret(apiKey);
    const called = await postJson(
      url,
      "/api/tdk/v1/call",
      { agent_id: "warmmemory", input: { action: "store", key: "k", value: "v" } },
      apiKey,
    );
    expect(called.status).toBe(200);
  }

  it("go to the configured OTLP endpoint, the paid call's steps among them; with none configured, nothing is recorded or sent", async () => {
    // @vercel/otel's default endpoint, where an unconfigured registration would send every span.
    const fallback = await startCollector(4318);
    const collector = await startCollector();
    try {
      const quiet = await startApp({}, { build: false });
      try {
        await makeSpans(quiet.url);
        // The batch processor exports every 5 s: wait past that.
        await new Promise((resolve) => setTimeout(resolve, 6_500));
      } finally {
        await quiet.stop();
      }
      expect(fallback.received).toEqual([]);

      const traced = await startApp({ OTEL_EXPORTER_OTLP_ENDPOINT: collector.url }, { build: false });
      try {
        await makeSpans(traced.url);
        await expect
          .poll(() => Buffer.concat(collector.received.map((request) => request.body)).toString("latin1"), {
            timeout: 20_000,
            interval: 500,
          })
          .toContain("paid_call.reserve");
      } finally {
        await traced.stop();
      }
      expect(new Set(collector.received.map((request) => request.path))).toEqual(new Set(["/v1/traces"]));
      expect(Buffer.concat(collector.received.map((request) => request.body)).toString("latin1")).toContain("tdk-gateway");
      expect(fallback.received).toEqual([]);
    } finally {
      await fallback.close();
      await collector.close();
    }
  });
});
