import { randomBytes } from "node:crypto";
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import Stripe from "stripe";

/**
 * A local stand-in for the part of Stripe's API the gateway uses, for the real `stripe` client
 * (pointed at it with host/port/protocol). Form-encoded requests, Bearer secret key, Stripe's error
 * shape, and Stripe's unkind parts: an Idempotency-Key replays its stored answer for 24 hours, 5xx
 * included (a 429 or a validation 400 is not stored); a meter event's `identifier` is remembered
 * for 24 hours and a reuse is a 400 `invalid_request_error` with no `code`; timestamps older than
 * 35 days or more than 5 minutes ahead are refused; its clock can be moved (`advanceClock`) and an
 * answer can be lost after the request was processed (`loseAnswers`). Checkout sessions in
 * subscription and setup mode, completed by the test as a customer would (`completeCheckout`):
 * subscriptions (retrieve with `expand[]`, price changes, cancel, list), SetupIntents with their
 * card payment methods, Billing Portal sessions. It records every request and can be told to fail
 * the next requests to a path with a status (429, 500…).
 */
export interface RecordedStripeRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: Record<string, unknown>;
}

export interface StripeStandIn {
  url: string;
  secretKey: string;
  requests: RecordedStripeRequest[];
  /** Accepted meter event values (micro-USD) summed per customer. */
  meterTotals: Map<string, bigint>;
  meterEvents: { identifier: string; customer: string; value: bigint; timestamp: number; eventName: string }[];
  failNext(pathPrefix: string, status: number, times?: number): void;
  /** Drops the connection instead of answering the next `times` requests to this path (each still processed, or replayed). */
  loseAnswers(pathPrefix: string, times?: number): void;
  /** Moves the stand-in's clock (identifier and idempotency-key memory last 24 hours of it). */
  advanceClock(ms: number): void;
  /** Holds each meter event this long before answering, to observe concurrency. */
  setMeterEventDelay(ms: number): void;
  /** Holds every request to a path starting with `pathPrefix` this long before answering. */
  setDelay(pathPrefix: string, ms: number): void;
  /** Most meter-event requests seen in flight at once: per customer, and overall. */
  maxInFlight: { perCustomer: number; overall: number };
  client(options?: { maxNetworkRetries?: number }): Stripe;
  /**
   * What Stripe does when the customer finishes a Checkout session: a subscription (subscription
   * mode) or a succeeded SetupIntent (setup mode), each with a card payment method of this
   * fingerprint. Returns the completed session, as `checkout.session.completed` carries it.
   */
  completeCheckout(sessionId: string, options?: { cardFingerprint?: string }): Record<string, unknown>;
  /** The objects the stand-in holds, by kind ("subscription", "checkout.session", ...). */
  objects(kind: string): Record<string, unknown>[];
  /** Changes a subscription's status as Stripe would on its own (past_due after a failed payment...). */
  setSubscriptionStatus(subscriptionId: string, status: string): Record<string, unknown>;
  close(): Promise<void>;
}

/** `a[b][0][c]=v` form keys into nested objects, as Stripe reads them. */
function parseForm(text: string): Record<string, unknown> {
  const root: Record<string, unknown> = {};
  for (const [key, value] of new URLSearchParams(text)) {
    const parts = key.replace(/\]/g, "").split("[");
    let node: Record<string, unknown> = root;
    parts.forEach((part, index) => {
      if (index === parts.length - 1) node[part] = value;
      else node = (node[part] ??= {}) as Record<string, unknown>;
    });
  }
  return root;
}

export async function startStripeStandIn(options: { secretKey?: string } = {}): Promise<StripeStandIn> {
  const secretKey = options.secretKey || `sk_test_${randomBytes(12).toString("hex")}`;
  const requests: RecordedStripeRequest[] = [];
  const meterTotals = new Map<string, bigint>();
  const meterEvents: StripeStandIn["meterEvents"] = [];
  // Stripe remembers a meter event identifier, and an idempotency key's answer, for about 24 hours.
  const MEMORY_MS = 24 * 3_600_000;
  let clockOffset = 0;
  const now = () => Date.now() + clockOffset;
  const identifiers = new Map<string, number>();
  const idempotent = new Map<string, { status: number; body: unknown; at: number }>();
  const failures: { prefix: string; status: number; times: number }[] = [];
  const lostAnswers: { prefix: string; times: number }[] = [];
  const objects = new Map<string, Record<string, unknown>[]>();
  let meterEventDelay = 0;
  const delays = new Map<string, number>();
  const inFlight = new Map<string, number>();
  let inFlightOverall = 0;
  const maxInFlight = { perCustomer: 0, overall: 0 };
  let counter = 0;
  const newId = (prefix: string) => `${prefix}_${(++counter).toString().padStart(6, "0")}${randomBytes(4).toString("hex")}`;

  const find = (kind: string, id: string) => (objects.get(kind) ?? []).find((object) => object.id === id);
  /** `expand[]=field` (or `expand[0]=field`): the id in that field replaced by its object. */
  const expand = (object: Record<string, unknown>, query: URLSearchParams) => {
    const fields = [...query.entries()].filter(([key]) => /^expand\[\d*\]$/.test(key)).map(([, value]) => value);
    const copy: Record<string, unknown> = { ...object };
    for (const field of fields) {
      const id = copy[field];
      if (typeof id !== "string") continue;
      const kind = id.startsWith("pm_") ? "payment_method" : id.startsWith("cus_") ? "customer" : null;
      copy[field] = (kind && find(kind, id)) ?? id;
    }
    return copy;
  };

  const handle = (
    method: string,
    path: string,
    body: Record<string, unknown>,
    query: URLSearchParams,
  ): { status: number; body: unknown } => {
    const error = (status: number, type: string, message: string, code?: string, param?: string) => ({
      status,
      body: { error: { type, message, ...(code ? { code } : {}), ...(param ? { param } : {}) } },
    });
    const store = (kind: string, object: Record<string, unknown>) => {
      (objects.get(kind) ?? objects.set(kind, []).get(kind)!).push(object);
      return { status: 200, body: object };
    };
    const list = (kind: string, filter: (o: Record<string, unknown>) => boolean = () => true) => ({
      status: 200,
      body: { object: "list", data: (objects.get(kind) ?? []).filter(filter), has_more: false, url: path },
    });

    if (method === "POST" && path === "/v1/customers") {
      return store("customer", { id: newId("cus"), object: "customer", email: body.email ?? null, metadata: body.metadata ?? {} });
    }
    if (method === "POST" && path === "/v1/checkout/sessions") {
      if (!body.success_url) return error(400, "invalid_request_error", "Missing required param: success_url.");
      if (body.mode === "subscription" && !body.line_items)
        return error(400, "invalid_request_error", "Missing required param: line_items.");
      if (body.mode === "setup" && !body.currency && !body.allowed_payment_method_types) {
        return error(400, "invalid_request_error", "currency is required in setup mode when allowed_payment_method_types is not set.");
      }
      const id = newId("cs_test");
      return store("checkout.session", {
        id,
        object: "checkout.session",
        url: `https://checkout.stripe.test/c/pay/${id}`,
        mode: body.mode,
        status: "open",
        customer: body.customer,
        client_reference_id: body.client_reference_id ?? null,
        metadata: body.metadata ?? {},
        line_items: body.line_items ?? null,
        subscription_data: body.subscription_data ?? null,
        setup_intent_data: body.setup_intent_data ?? null,
        allowed_payment_method_types: body.allowed_payment_method_types ?? null,
        subscription: null,
        setup_intent: null,
      });
    }
    const subscriptionPath = /^\/v1\/subscriptions\/([^/]+)$/.exec(path);
    if (subscriptionPath) {
      const subscription = find("subscription", subscriptionPath[1]!);
      if (!subscription) return error(404, "invalid_request_error", `No such subscription: '${subscriptionPath[1]}'`, "resource_missing");
      if (method === "GET") return { status: 200, body: expand(subscription, query) };
      if (method === "DELETE") {
        subscription.status = "canceled";
        subscription.canceled_at = Math.floor(Date.now() / 1000);
        return { status: 200, body: subscription };
      }
      if (method === "POST") {
        if (subscription.status === "canceled")
          return error(400, "invalid_request_error", "A canceled subscription can only update its cancellation_details and metadata.");
        const items = (body.items ?? {}) as Record<string, { id?: string; price?: string }>;
        const current = (subscription.items as { data: { id: string; price: { id: string } }[] }).data;
        for (const change of Object.values(items)) {
          const item = current.find((candidate) => candidate.id === change.id);
          if (!item) return error(400, "invalid_request_error", `No such subscription item: '${change.id}'`);
          if (change.price) item.price = { id: change.price };
        }
        if (body.metadata) subscription.metadata = { ...(subscription.metadata as object), ...(body.metadata as object) };
        if (body.cancel_at_period_end !== undefined) subscription.cancel_at_period_end = body.cancel_at_period_end === "true";
        subscription.last_proration_behavior = body.proration_behavior ?? null;
        return { status: 200, body: subscription };
      }
    }
    if (method === "GET" && path === "/v1/subscriptions") {
      const customer = query.get("customer");
      return list("subscription", (subscription) => !customer || subscription.customer === customer);
    }
    const setupIntentPath = /^\/v1\/setup_intents\/([^/]+)$/.exec(path);
    if (method === "GET" && setupIntentPath) {
      const intent = find("setup_intent", setupIntentPath[1]!);
      if (!intent) return error(404, "invalid_request_error", `No such setupintent: '${setupIntentPath[1]}'`, "resource_missing");
      return { status: 200, body: expand(intent, query) };
    }
    if (method === "POST" && path === "/v1/billing_portal/sessions") {
      if (!body.customer) return error(400, "invalid_request_error", "Missing required param: customer.");
      const id = newId("bps");
      return store("billing_portal.session", {
        id,
        object: "billing_portal.session",
        customer: body.customer,
        return_url: body.return_url ?? null,
        url: `https://billing.stripe.test/p/session/${id}`,
      });
    }
    if (method === "POST" && path === "/v1/billing/meter_events") {
      const payload = (body.payload ?? {}) as Record<string, string>;
      const identifier = String(body.identifier ?? newId("mev"));
      if (!body.event_name || !payload.stripe_customer_id || !/^\d+$/.test(payload.value ?? "")) {
        return error(
          400,
          "invalid_request_error",
          "Invalid meter event: event_name, payload[stripe_customer_id] and a whole payload[value] are required.",
        );
      }
      const timestamp = Number(body.timestamp ?? Math.floor(now() / 1000));
      if (timestamp < now() / 1000 - 35 * 86_400)
        return error(400, "invalid_request_error", "Timestamp must be within the past 35 days.", undefined, "timestamp");
      if (timestamp > now() / 1000 + 5 * 60)
        return error(400, "invalid_request_error", "Timestamp must not be more than 5 minutes in the future.", undefined, "timestamp");
      const seen = identifiers.get(identifier);
      // As Stripe: a 400 without a `code`, and only while the identifier is remembered.
      if (seen !== undefined && now() - seen < MEMORY_MS) {
        return error(400, "invalid_request_error", `An event already exists with identifier ${identifier}.`);
      }
      identifiers.set(identifier, now());
      const value = BigInt(payload.value!);
      meterTotals.set(payload.stripe_customer_id, (meterTotals.get(payload.stripe_customer_id) ?? 0n) + value);
      meterEvents.push({ identifier, customer: payload.stripe_customer_id, value, timestamp, eventName: String(body.event_name) });
      return {
        status: 200,
        body: {
          object: "billing.meter_event",
          event_name: body.event_name,
          identifier,
          payload,
          timestamp,
          created: timestamp,
          livemode: false,
        },
      };
    }
    if (method === "POST" && path === "/v1/billing/meters") {
      return store("billing.meter", {
        id: newId("mtr"),
        object: "billing.meter",
        event_name: body.event_name,
        display_name: body.display_name,
        status: "active",
        default_aggregation: body.default_aggregation,
        customer_mapping: body.customer_mapping,
        value_settings: body.value_settings,
      });
    }
    if (method === "GET" && path === "/v1/billing/meters") return list("billing.meter");
    const summaries = /^\/v1\/billing\/meters\/([^/]+)\/event_summaries$/.exec(path);
    if (method === "GET" && summaries) {
      // One summary over [start_time, end_time) for one customer: the sum of the meter's events in it.
      const meter = find("billing.meter", summaries[1]!);
      if (!meter) return error(404, "invalid_request_error", `No such billing meter: '${summaries[1]}'`, "resource_missing");
      const customer = query.get("customer");
      const start = Number(query.get("start_time"));
      const end = Number(query.get("end_time"));
      if (!customer || !Number.isFinite(start) || !Number.isFinite(end))
        return error(400, "invalid_request_error", "customer, start_time and end_time are required.");
      const value = meterEvents
        .filter(
          (event) =>
            event.customer === customer && event.eventName === meter.event_name && event.timestamp >= start && event.timestamp < end,
        )
        .reduce((sum, event) => sum + event.value, 0n);
      return {
        status: 200,
        body: {
          object: "list",
          url: path,
          has_more: false,
          data: [
            {
              id: newId("mtrusg"),
              object: "billing.meter_event_summary",
              aggregated_value: Number(value),
              start_time: start,
              end_time: end,
              livemode: false,
              meter: meter.id,
            },
          ],
        },
      };
    }
    if (method === "POST" && path === "/v1/products")
      return store("product", { id: newId("prod"), object: "product", name: body.name, metadata: body.metadata ?? {} });
    if (method === "GET" && path === "/v1/products") return list("product");
    if (method === "POST" && path === "/v1/prices") {
      return store("price", {
        id: newId("price"),
        object: "price",
        product: body.product,
        currency: body.currency,
        lookup_key: body.lookup_key ?? null,
        recurring: body.recurring ?? null,
        unit_amount_decimal: body.unit_amount_decimal ?? null,
        active: true,
      });
    }
    if (method === "GET" && path === "/v1/prices") {
      const keys = query.getAll("lookup_keys[]").concat(query.getAll("lookup_keys[0]"), query.getAll("lookup_keys[1]"));
      return list("price", (price) => keys.length === 0 || keys.includes(String(price.lookup_key)));
    }
    return error(404, "invalid_request_error", `Unrecognized request URL (${method}: ${path}).`);
  };

  const server: Server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const url = new URL(req.url ?? "/", "http://stripe.local");
    const body = parseForm(Buffer.concat(chunks).toString("utf8"));
    const method = req.method ?? "GET";
    requests.push({ method, path: url.pathname, headers: req.headers, body });
    const send = (status: number, payload: unknown, headers: Record<string, string> = {}) => {
      // The request was handled, but its answer never reaches the client (a dropped connection).
      const lost = lostAnswers.find((entry) => url.pathname.startsWith(entry.prefix) && entry.times > 0);
      if (lost) {
        lost.times -= 1;
        res.socket?.destroy();
        return;
      }
      res.writeHead(status, { "content-type": "application/json", "request-id": `req_${randomBytes(6).toString("hex")}`, ...headers });
      res.end(JSON.stringify(payload));
    };
    if (req.headers.authorization !== `Bearer ${secretKey}`) {
      return send(401, { error: { type: "invalid_request_error", message: "Invalid API Key provided." } });
    }
    const key = req.headers["idempotency-key"];
    const cacheKey = typeof key === "string" ? `${method} ${url.pathname} ${key}` : null;
    const stored = cacheKey ? idempotent.get(cacheKey) : undefined;
    if (stored && now() - stored.at < MEMORY_MS) return send(stored.status, stored.body, { "idempotent-replayed": "true" });
    const failure = failures.find((f) => url.pathname.startsWith(f.prefix) && f.times > 0);
    if (failure) {
      failure.times -= 1;
      const type = failure.status === 429 ? "rate_limit_error" : failure.status >= 500 ? "api_error" : "invalid_request_error";
      const answer = { status: failure.status, body: { error: { type, message: `Injected ${failure.status}` } } };
      // A 5xx happened while the request executed: Stripe keeps it under the key. A 429 never ran.
      if (cacheKey && failure.status >= 500) idempotent.set(cacheKey, { ...answer, at: now() });
      return send(answer.status, answer.body, failure.status === 429 ? { "stripe-should-retry": "false" } : {});
    }
    for (const [prefix, ms] of delays)
      if (url.pathname.startsWith(prefix) && ms > 0) await new Promise((resolve) => setTimeout(resolve, ms));
    if (url.pathname === "/v1/billing/meter_events" && meterEventDelay > 0) {
      const customer = String((body.payload as Record<string, unknown> | undefined)?.stripe_customer_id);
      inFlight.set(customer, (inFlight.get(customer) ?? 0) + 1);
      inFlightOverall += 1;
      maxInFlight.perCustomer = Math.max(maxInFlight.perCustomer, inFlight.get(customer)!);
      maxInFlight.overall = Math.max(maxInFlight.overall, inFlightOverall);
      await new Promise((resolve) => setTimeout(resolve, meterEventDelay));
      inFlight.set(customer, inFlight.get(customer)! - 1);
      inFlightOverall -= 1;
    }
    const answer = handle(method, url.pathname, body, url.searchParams);
    // Stripe saves no result for a request that failed validation (a 400); everything else is kept.
    if (cacheKey && answer.status !== 400) idempotent.set(cacheKey, { ...answer, at: now() });
    send(answer.status, answer.body);
  });

  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    secretKey,
    requests,
    meterTotals,
    meterEvents,
    failNext: (prefix, status, times = 1) => failures.push({ prefix, status, times }),
    loseAnswers: (prefix, times = 1) => lostAnswers.push({ prefix, times }),
    advanceClock: (ms) => {
      clockOffset += ms;
    },
    setMeterEventDelay: (ms) => {
      meterEventDelay = ms;
    },
    setDelay: (prefix, ms) => {
      delays.set(prefix, ms);
    },
    maxInFlight,
    completeCheckout: (sessionId, options = {}) => {
      const session = find("checkout.session", sessionId);
      if (!session) throw new Error(`No checkout session ${sessionId}`);
      const paymentMethod = {
        id: newId("pm"),
        object: "payment_method",
        type: "card",
        customer: session.customer,
        card: { brand: "visa", last4: "4242", fingerprint: options.cardFingerprint ?? `fp_${randomBytes(6).toString("hex")}` },
      };
      (objects.get("payment_method") ?? objects.set("payment_method", []).get("payment_method")!).push(paymentMethod);
      const add = (kind: string, object: Record<string, unknown>) => (objects.get(kind) ?? objects.set(kind, []).get(kind)!).push(object);
      if (session.mode === "setup") {
        const intent = {
          id: newId("seti"),
          object: "setup_intent",
          status: "succeeded",
          customer: session.customer,
          payment_method: paymentMethod.id,
          metadata: (session.setup_intent_data as { metadata?: object } | null)?.metadata ?? {},
        };
        add("setup_intent", intent);
        session.setup_intent = intent.id;
      } else {
        const lineItems = Object.values((session.line_items ?? {}) as Record<string, { price: string }>);
        const subscription = {
          id: newId("sub"),
          object: "subscription",
          customer: session.customer,
          status: "active",
          metadata: (session.subscription_data as { metadata?: object } | null)?.metadata ?? {},
          items: {
            object: "list",
            data: lineItems.map((item) => ({ id: newId("si"), object: "subscription_item", price: { id: item.price } })),
          },
          default_payment_method: paymentMethod.id,
          created: Math.floor(Date.now() / 1000),
        };
        add("subscription", subscription);
        session.subscription = subscription.id;
      }
      session.status = "complete";
      return { ...session };
    },
    objects: (kind) => objects.get(kind) ?? [],
    setSubscriptionStatus: (subscriptionId, status) => {
      const subscription = find("subscription", subscriptionId);
      if (!subscription) throw new Error(`No subscription ${subscriptionId}`);
      subscription.status = status;
      return { ...subscription };
    },
    client: (options = {}) =>
      new Stripe(secretKey, {
        host: "127.0.0.1",
        port,
        protocol: "http",
        maxNetworkRetries: options.maxNetworkRetries ?? 0,
        telemetry: false,
        timeout: 10_000,
      }),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
