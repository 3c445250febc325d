import { inject } from "vitest";
import { PostgresStore } from "../src/store/postgres.js";
import { freshDatabase } from "./fixtures/postgres.js";
import { testPoolStore } from "./store-pools-contract.js";

testPoolStore({
  name: "postgres",
  async database() {
    const db = await freshDatabase(inject("pgAdminUrl"));
    return { open: () => new PostgresStore(db.url), cleanup: () => db.drop() };
  },
});
