import { mkdir } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chromium, type Browser } from "playwright-core";
import { chromiumArgs, chromiumPath, startApp, type RunningApp } from "../helpers/server";
import { startStripeStandIn, type StripeStandIn } from "../helpers/stripe-standin";

const artifacts = path.resolve(__dirname, "..", "..", "test-results");
let app: RunningApp;
let browser: Browser;
let stripe: StripeStandIn;

beforeAll(async () => {
  await mkdir(artifacts, { recursive: true });
  stripe = await startStripeStandIn();
  app = await startApp({
    STRIPE_SECRET_KEY: stripe.secretKey,
    STRIPE_WEBHOOK_SECRET: "whsec_browser",
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
    await page.waitForURL("**/keys");
    const cookies = await context.cookies();
    const session = cookies.find((cookie) => cookie.name === "tdk_session")!;
    expect(session).toMatchObject({ httpOnly: true, secure: true, sameSite: "Lax" });

    await page.getByLabel("Key name (optional)").fill("from the browser");
    await page.getByRole("button", { name: "Create API key" }).click();
    const shown = page.getByTestId("new-api-key");
    await shown.waitFor();
    const apiKey = (await shown.textContent())!;
    expect(apiKey).toMatch(/^tk_test_[1-9A-HJ-NP-Za-km-z]{40,48}$/);
    expect(await page.getByTestId("new-key-usdc").textContent()).toBe("10.000000");
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
    expect(body.keys).toHaveLength(1);
    expect(JSON.stringify(body)).not.toContain(apiKey);

    await page.getByRole("button", { name: /Revoke key from the browser/ }).click();
    await expect.poll(() => page.getByTestId("key-row").first().textContent()).toContain("revoked");

    // The upgrade button sends the browser to Stripe Checkout for the metered paid price.
    await page.route("https://checkout.stripe.test/**", (route) => route.fulfill({ status: 200, contentType: "text/html", body: "<h1>Stripe Checkout</h1>" }));
    await page.getByRole("button", { name: /Upgrade to paid/ }).click();
    await page.waitForURL("https://checkout.stripe.test/**");
    const checkoutRequest = stripe.requests.find((r) => r.path === "/v1/checkout/sessions")!;
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
    await page.waitForURL("**/keys");
    await page.getByRole("button", { name: "Create API key" }).click();
    await page.getByTestId("new-api-key").waitFor();
    expect(await page.getByTestId("new-api-key").textContent()).toMatch(/^tk_test_/);
    await context.close();
  });
});
