import { ProxyTracerProvider, SpanStatusCode, trace, type Attributes, type Tracer } from "@opentelemetry/api";

/**
 * Traces (OpenTelemetry). `instrumentation.ts` registers the exporter (@vercel/otel: to Vercel's
 * collector there, to OTEL_EXPORTER_OTLP_ENDPOINT elsewhere) only when one is configured
 * (`traceExporterConfigured`); without one, no tracer provider is registered and spans cost nothing.
 * The paid call has a span per pipeline step, children of the request's span.
 */
const TRACER_NAME = "tdk-gateway";

/**
 * The tracer, or null while no tracer provider is registered. The API's tracer would then make a
 * span that records nothing, in a context that holds nothing: six times a paid call, with the
 * closures and promises each costs, for nothing.
 */
function recordingTracer(): Tracer | null {
  const provider = trace.getTracerProvider();
  // Another copy of the API registered globally is not ours to look into: its tracer is used as it is.
  if (!(provider instanceof ProxyTracerProvider)) return provider.getTracer(TRACER_NAME);
  return provider.getDelegateTracer(TRACER_NAME) ?? null;
}

/**
 * Runs `fn` in a span named `name`: its duration, these attributes, and an error status (the
 * error's name, never its data) when it throws. Without a tracer provider, `fn` runs as it is.
 */
export function inSpan<T>(name: string, attributes: Attributes, fn: () => Promise<T>): Promise<T> {
  const tracer = recordingTracer();
  if (!tracer) return fn();
  return tracer.startActiveSpan(name, { attributes }, async (span) => {
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
