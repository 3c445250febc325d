import { execFileSync } from "node:child_process";

/** Integration tests run the real CLI: build it once before any test. */
export default function setup(): void {
  execFileSync("node", ["scripts/build.mjs"], { stdio: "inherit" });
}
