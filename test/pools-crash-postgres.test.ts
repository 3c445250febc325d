import { inject } from "vitest";
import { freshDatabase } from "./fixtures/postgres.js";
import { poolsCrashSuite } from "./pools-crash-suite.js";

let drop: (() => Promise<void>) | undefined;
poolsCrashSuite("postgres", {
  async env() {
    const db = await freshDatabase(inject("pgAdminUrl"));
    drop = db.drop;
    return { SANDBOXER_DATABASE_URL: db.url };
  },
  cleanup: async () => drop?.(),
});
