import { context, trace } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as call from "@/app/api/tdk/v1/call/route";
import type { AppContext } from "@/lib/context";
import { callRoute, createKeyedAccount, createTestApp } from "../helpers/app";

/** The real OpenTelemetry SDK, its spans kept in memory for the test to read. */
const exporter = new InMemorySpanExporter();
const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
const contextManager = new AsyncLocalStorageContextManager();
let app: AppContext;

beforeAll(async () => {
  context.setGlobalContextManager(contextManager.enable());
  trace.setGlobalTracerProvider(provider);
  app = await createTestApp();
});
afterAll(async () => {
  await provider.shutdown();
  trace.disable();
  context.disable();
});

describe("traces", () => {
  it("a paid call is a span with a child span per pipeline step, carrying the request id and the outcome", async () => {
    const caller = await createKeyedAccount(app, { label: "traced" });
    exporter.reset();
    const res = await callRoute(call.POST, "POST", "/", {
      bearer: caller.apiKey,
      body: { agent_id: "textstats", input: { text: "trace me" } },
    });
    expect(res.status).toBe(200);
    const requestId = res.json.usage.request_id;
    const spans = exporter.getFinishedSpans().filter((span) => span.attributes["tdk.request_id"] === requestId);
    const root = spans.find((span) => span.name === "paid_call")!;
    expect(root.attributes).toMatchObject({ "tdk.key_id": caller.key.id, "tdk.outcome": "succeeded" });
    const steps = spans.filter((span) => span.parentSpanContext?.spanId === root.spanContext().spanId).map((span) => span.name);
    expect(steps).toEqual([
      "paid_call.look_up_agent",
      "paid_call.reserve",
      "paid_call.build_payment",
      "paid_call.sign_and_record",
      "paid_call.submit_and_settle",
    ]);
    // Every step took time and ended; none carries the key.
    for (const span of spans) {
      expect(span.endTime).toBeDefined();
      expect(JSON.stringify(span.attributes)).not.toContain(caller.apiKey);
    }
  });

  it("a refused call ends at the step that refused it", async () => {
    const caller = await createKeyedAccount(app, { label: "traced-refused" });
    exporter.reset();
    const res = await callRoute(call.POST, "POST", "/", { bearer: caller.apiKey, body: { agent_id: "no-such-agent", input: {} } });
    expect(res.status).toBe(404);
    const names = exporter.getFinishedSpans().map((span) => span.name);
    expect(names).toContain("paid_call.look_up_agent");
    expect(names).not.toContain("paid_call.reserve");
    expect(exporter.getFinishedSpans().find((span) => span.name === "paid_call")!.attributes["tdk.outcome"]).toBe("refused");
  });
});
