import type { NextConfig } from "next";

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
  webpack: (config) => {
    if (process.env.TDK_UNMINIFIED_BUILD === "1") config.optimization.minimize = false;
    return config;
  },
  // The browser test builds into its own folder so it never clobbers a developer's `.next`.
  distDir: process.env.TDK_NEXT_DIST_DIR || ".next",
};

export default nextConfig;
