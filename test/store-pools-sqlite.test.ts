import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SqliteStore } from "../src/store/sqlite.js";
import { testPoolStore } from "./store-pools-contract.js";

testPoolStore({
  name: "sqlite",
  async database() {
    const dir = mkdtempSync(join(tmpdir(), "sbx-pools-store-"));
    const file = join(dir, "sandboxer.db");
    return { open: () => new SqliteStore(file), cleanup: async () => rmSync(dir, { recursive: true, force: true }) };
  },
});
