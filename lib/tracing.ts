import { SpanStatusCode, trace, type Attributes } from "@opentelemetry/api";

/**
 * Traces (OpenTelemetry). `instrumentation.ts` registers the exporter (@vercel/otel: to Vercel's
 * collector there, to OTEL_EXPORTER_OTLP_ENDPOINT elsewhere) only when one is configured
 * (`traceExporterConfigured`); without one, no tracer provider is registered and spans cost nothing.
 * The paid call has a span per pipeline step, children of the request's span.
 */
const tracer = () => trace.getTracer("tdk-gateway");

/** Runs `fn` in a span named `name`: its duration, these attributes, and an error status (the error's name, never its data) when it throws. */
export async function inSpan<T>(name: string, attributes: Attributes, fn: () => Promise<T>): Promise<T> {
  return tracer().startActiveSpan(name, { attributes }, async (span) => {
    try {
      return await fn();
    } catch (error) {
      span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.name : "error" });
      throw error;
    } finally {
      span.end();
    }
  });
}

/** Adds attributes to the current span (the step's outcome). */
export function annotateSpan(attributes: Attributes): void {
  trace.getActiveSpan()?.setAttributes(attributes);
}

/**
 * Whether traces have somewhere to go: Vercel's collector (VERCEL_OTEL_ENDPOINTS, set there when
 * tracing is on) or an OTLP endpoint. @vercel/otel registered without one still records every span
 * and exports it to http://localhost:4318 (its default): CPU on every request, for traces no one
 * receives (issue 11's profile: about 4% of the request thread under load).
 */
export function traceExporterConfigured(env: Record<string, string | undefined>): boolean {
  return ["VERCEL_OTEL_ENDPOINTS", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT"].some((name) =>
    Boolean(env[name]?.trim()),
  );
}
