import path from "node:path";
import type { NextConfig } from "next";
import type { webpack } from "next/dist/compiled/webpack/webpack";

/**
 * Next.js 15.5's route runtime loads its manifests on every request (`RouteModule.loadManifests`):
 * a found one is read once and cached, but an optional one that is missing is read again, and
 * fails, on every request. Two are always missing from our build: `dynamic-css-manifest` (the
 * runtime asks for it without the `.json` that the pages router's build would write) and
 * `server/subresource-integrity-manifest.json` (written only with `experimental.sri`). The two
 * failed `readFileSync` calls (an ENOENT error each) cost 0.153–0.180 ms of server CPU a request
 * (floor route, median difference block by block, three runs of scripts/bench/compare-builds.ts
 * or its first draft, issue 11). The server build writes them as `{}`, what the runtime answers
 * for a missing one, unless the build wrote them itself.
 */
class EmptyOptionalManifests {
  constructor(private readonly distDir: string) {}

  apply(compiler: webpack.Compiler): void {
    const { Compilation, sources } = compiler.webpack;
    compiler.hooks.thisCompilation.tap("EmptyOptionalManifests", (compilation: webpack.Compilation) => {
      compilation.hooks.processAssets.tap({ name: "EmptyOptionalManifests", stage: Compilation.PROCESS_ASSETS_STAGE_REPORT }, () => {
        for (const manifest of ["dynamic-css-manifest", "server/subresource-integrity-manifest.json"]) {
          // Asset names are relative to the server compilation's output folder, a folder under distDir.
          const file = path.relative(compilation.outputOptions.path, path.join(this.distDir, manifest));
          if (!compilation.getAsset(file)) compilation.emitAsset(file, new sources.RawSource("{}"));
        }
      });
    });
  }
}

const nextConfig: NextConfig = {
  // PGlite ships WASM + data files and litesvm a native addon: both must be loaded by Node
  // from node_modules at run time, not bundled.
  serverExternalPackages: ["@electric-sql/pglite", "litesvm", "pg", "bcryptjs"],
  // Migrations are read at start (embedded and DATABASE_URL backends), and the database clients'
  // threads are files Node loads as they are (with the modules they import): ship them with every route.
  outputFileTracingIncludes: {
    "/**": [
      "./supabase/migrations/*.sql",
      "./lib/db/pglite-worker.mjs",
      "./lib/db/pglite-query.mjs",
      "./lib/db/postgres-worker.mjs",
      "./lib/db/describe-error.mjs",
    ],
  },
  poweredByHeader: false,
  // A CPU profile of a minified server names its functions `q` and `w`: `npm run bench` with
  // BENCH_PROFILE builds one unminified, into a folder of its own (the measured builds stay as
  // `next build` ships them).
  webpack: (config, { dev, dir, isServer, nextRuntime, config: next }) => {
    if (process.env.TDK_UNMINIFIED_BUILD === "1") config.optimization.minimize = false;
    if (!dev && isServer && nextRuntime === "nodejs") config.plugins.push(new EmptyOptionalManifests(path.join(dir, next.distDir)));
    return config;
  },
  // The browser test builds into its own folder so it never clobbers a developer's `.next`.
  distDir: process.env.TDK_NEXT_DIST_DIR || ".next",
};

export default nextConfig;
