import { defineConfig } from "vitest/config";

// Workspace packages export their TypeScript source under the "@edgepath/source"
// condition (CONVENTIONS §4), so tests run against src/ without a build.
const conditions = ["@edgepath/source", "import", "node", "default"];
// No "module" condition: it points some packages (@opentelemetry/*) at bundler-only ESM builds
// (extensionless imports) that Node cannot load when vitest externalises them.
const externalConditions = conditions;

export default defineConfig({
  resolve: { conditions },
  ssr: { resolve: { conditions, externalConditions } },
  test: {
    projects: [
      {
        extends: true,
        test: {
          name: "unit",
          include: ["packages/*/src/**/*.test.ts", "services/*/src/**/*.test.ts"],
          testTimeout: 20_000,
        },
      },
      {
        extends: true,
        test: {
          name: "e2e",
          include: ["test/**/*.test.ts"],
          testTimeout: 60_000,
          hookTimeout: 60_000,
          // Real servers and real sockets on 2 cores: one file at a time keeps timing sane.
          fileParallelism: false,
        },
      },
    ],
  },
});
