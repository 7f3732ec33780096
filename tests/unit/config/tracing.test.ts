import { describe, expect, it } from "vitest";
import { traceExporterConfigured } from "@/lib/tracing";

describe("where traces go", () => {
  it("registers an exporter only when there is somewhere to send them: Vercel's collector or an OTLP endpoint", () => {
    expect(traceExporterConfigured({})).toBe(false);
    expect(traceExporterConfigured({ OTEL_EXPORTER_OTLP_ENDPOINT: " " })).toBe(false);
    expect(traceExporterConfigured({ OTEL_SERVICE_NAME: "tdk-gateway" })).toBe(false);
    expect(traceExporterConfigured({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318" })).toBe(true);
    expect(traceExporterConfigured({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "http://collector:4318/v1/traces" })).toBe(true);
    expect(traceExporterConfigured({ VERCEL_OTEL_ENDPOINTS: "1" })).toBe(true);
  });
});
