import { inject } from "vitest";
import { crashSuite } from "./core-crash-suite.js";
import { freshDatabase } from "./fixtures/postgres.js";

let drop: (() => Promise<void>) | undefined;
crashSuite("postgres", {
  async env() {
    const db = await freshDatabase(inject("pgAdminUrl"));
    drop = db.drop;
    return { SANDBOXER_DATABASE_URL: db.url };
  },
  cleanup: async () => drop?.(),
});
