import { mkdir } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chromium, type Browser, type Page } from "playwright-core";
import { chromiumArgs, chromiumPath, startApp, startExpectingRefusal, type RunningApp } from "../helpers/server";
import { signWebhook, stripeEvent } from "../helpers/stripe-events";
import { startStripeStandIn, type StripeStandIn } from "../helpers/stripe-standin";
import { demoAgents } from "@/lib/agents/demo-agents";

const artifacts = path.resolve(__dirname, "..", "..", "test-results");
let app: RunningApp;
let browser: Browser;
let stripe: StripeStandIn;

beforeAll(async () => {
  await mkdir(artifacts, { recursive: true });
  stripe = await startStripeStandIn();
  app = await startApp({
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
    await page.waitForURL("**/login?registered=1**");
    expect(await page.getByLabel("Email").inputValue()).toBe(email);

    await page.getByLabel("Password").fill(password);
    await page.getByRole("button", { name: "Log in" }).click();
    await page.waitForURL("**/dashboard");
    await page.getByRole("link", { name: "API keys" }).click();
    await page.waitForURL("**/keys");
    const cookies = await context.cookies();
    const session = cookies.find((cookie) => cookie.name === "tdk_session")!;
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
    await page.waitForURL("**/login?registered=1**");
    await page.getByLabel("Password").fill(password);
    await page.getByRole("button", { name: "Log in" }).click();
    await page.waitForURL("**/dashboard");
    expect(await page.getByTestId("quota-used").textContent()).toBe("0");
    await verifyCard(page, `fp_dashboard_${Date.now()}`);

    await page.getByLabel("Key name (optional)").fill("dashboard key");
    await page.getByRole("button", { name: "Create API key" }).click();
    await page.getByTestId("new-api-key").waitFor();
    const apiKey = (await page.getByTestId("new-api-key").textContent())!;

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
      usage: { created_at: string; billed_micro: number }[];
    };
    const today = new Date().toISOString().slice(0, 10);
    const todayRows = usage.usage.filter((row) => row.created_at.slice(0, 10) === today);
    const bar = page.locator(`[data-testid="chart-day"][data-day="${today}"]`);
    expect(Number(await bar.getAttribute("data-calls"))).toBe(todayRows.length);
    expect(Number(await bar.getAttribute("data-spend-micro"))).toBe(todayRows.reduce((sum, row) => sum + row.billed_micro, 0));
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
});
