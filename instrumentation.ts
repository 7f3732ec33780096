/**
 * Runs once when a server starts (Next.js `register`). A production configuration error stops
 * the server here, with the same message parseEnv gives, instead of answering 500 on every request.
 */
export async function register(): Promise<void> {
  if (process.env.NEXT_RUNTIME !== "nodejs") return;
  const { parseEnv, EnvError } = await import("@/lib/env");
  try {
    parseEnv(process.env);
  } catch (error) {
    if (!(error instanceof EnvError)) throw error;
    console.error(`[tdk] refusing to start: ${error.message}`);
    process.exit(1);
  }
  // Traces: the request spans Next.js makes, and the paid call's steps (lib/tracing.ts). Exported to
  // Vercel's collector there, to OTEL_EXPORTER_OTLP_ENDPOINT elsewhere; when neither is set nothing
  // is registered, so no span is recorded (@vercel/otel would send them to localhost:4318).
  const { traceExporterConfigured } = await import("@/lib/tracing");
  if (!traceExporterConfigured(process.env)) return;
  const { registerOTel } = await import("@vercel/otel");
  registerOTel({ serviceName: "tdk-gateway" });
}
