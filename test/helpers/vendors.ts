/**
 * The metered vendors as test table rows: how to start each one's local
 * wire-contract fake, the environment that reaches it, and a pair of
 * profiles for it (one with a 1 MiB upload limit).
 */
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Env } from "../../src/config.js";
import { startDaytonaFake } from "../fakes/daytona-server.js";
import { startE2bFake } from "../fakes/e2b-server.js";
import { startModalFake } from "../fakes/modal-server.js";

export interface VendorRow {
  extension: string;
  /** Start the fake: the environment that reaches it and how to stop it. */
  start(): Promise<{ env: Env; close(): Promise<void> }>;
  settings?: string;
}

export const VENDORS: VendorRow[] = [
  {
    extension: "ext.e2b",
    start: async () => {
      const f = await startE2bFake();
      return { env: { E2B_API_URL: f.url, E2B_SANDBOX_URL: f.sandboxUrl, E2B_API_KEY: f.apiKey }, close: () => f.close() };
    },
  },
  {
    extension: "ext.daytona",
    start: async () => {
      const f = await startDaytonaFake();
      return { env: { DAYTONA_API_URL: f.url, DAYTONA_API_KEY: f.apiKey }, close: () => f.close() };
    },
  },
  {
    extension: "ext.modal",
    start: async () => {
      const f = await startModalFake();
      return {
        env: { MODAL_SERVER_URL: f.url, MODAL_TOKEN_ID: f.tokenId, MODAL_TOKEN_SECRET: f.tokenSecret, MODAL_CONFIG_PATH: "/nonexistent" },
        close: () => f.close(),
      };
    },
  },
];

/** profile.files-NAME and profile.files-NAME-small (files.maxUpload: 1MiB) for one vendor. */
export function vendorProfiles(extension: string): { dir: string; name: string } {
  const dir = mkdtempSync(join(tmpdir(), "sbx-vendor-profiles-"));
  const name = extension.replace("ext.", "");
  mkdirSync(join(dir, "profiles"));
  const base = ["version: 1", `extension: ${extension}`, "ttl: { default: 30m, max: 2h }", "timeout: 60s"];
  writeFileSync(join(dir, "profiles", `profile.files-${name}.yaml`), [`id: profile.files-${name}`, ...base, ""].join("\n"));
  writeFileSync(
    join(dir, "profiles", `profile.files-${name}-small.yaml`),
    [`id: profile.files-${name}-small`, ...base, "files: { maxUpload: 1MiB }", ""].join("\n"),
  );
  return { dir, name };
}
