import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SqliteStore } from "../src/store/sqlite.js";
import { testStore } from "./store-contract.js";

testStore({
  name: "sqlite",
  async database() {
    const dir = mkdtempSync(join(tmpdir(), "sbx-store-contract-"));
    return {
      open: () => new SqliteStore(join(dir, "sandboxer.db")),
      cleanup: async () => rmSync(dir, { recursive: true, force: true }),
    };
  },
});
