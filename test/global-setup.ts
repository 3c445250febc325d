import { execFileSync } from "node:child_process";
import type { TestProject } from "vitest/node";
import { makeTemplate, PG_MISSING, pgBin, startPostgres } from "./fixtures/postgres.js";

/**
 * Integration tests run the real CLI: build it once before any test. One
 * throwaway PostgreSQL serves the run (test files clone fresh databases from
 * its migrated template: test/fixtures/postgres.ts); stopped at the end.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  execFileSync("node", ["scripts/build.mjs"], { stdio: "inherit" });
  try {
    pgBin();
  } catch {
    // Only the PostgreSQL tests need it: they fail saying so (freshDatabase), the others still run.
    console.warn(`global setup: ${PG_MISSING}; the PostgreSQL tests will fail`);
    project.provide("pgAdminUrl", "");
    return async () => {};
  }
  const pg = await startPostgres();
  try {
    await makeTemplate(pg.adminUrl);
  } catch (err) {
    await pg.stop();
    throw err;
  }
  project.provide("pgAdminUrl", pg.adminUrl);
  return () => pg.stop();
}
