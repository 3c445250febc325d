#!/usr/bin/env node
/**
 * The direction of imports under src/, one rule per folder (run by `make lint`
 * and test/imports.test.ts). Layers, from the bottom:
 *
 *   base       types, errors, ids, duration, faults, lifecycle, proc, paths, config
 *   helpers    store, transport, catalog, extensions, sandbox-shell, routing, credits, ttl, snapshots, events, telemetry, tenancy
 *   core       broker.ts + broker/      (the only place that joins store and extensions)
 *   services   reaper.ts, api, cli, client, mcp, ui, index.ts   (call the broker's interface)
 *
 * Everything may import base. A helper imports only the helpers its rule
 * names, never the core or a service. Services import `broker.ts` (the Broker
 * interface and its types), never `broker/**`, the store, transports or
 * extensions. A folder without a rule fails the check: say where it belongs.
 * Type-only imports count too: a type is a dependency of the design.
 * Prints `src/file:line: ...` for every offending import; exit 1 if any.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";

/** `node scripts/check-imports.mjs [SRC_DIR]` (default: this checkout's src/). */
const SRC = resolve(process.argv[2] ?? join(import.meta.dirname, "..", "src"));

const BASE = ["types.ts", "errors.ts", "ids.ts", "duration.ts", "faults.ts", "lifecycle.ts", "proc.ts", "paths.ts", "config.ts"];
const HELPERS = [
  "store/",
  "transport/",
  "catalog/",
  "extensions/",
  "sandbox-shell/",
  "routing/",
  "credits/",
  "ttl/",
  "snapshots/",
  "events/",
  "telemetry/",
  "tenancy/",
];
const CORE = ["broker.ts", "broker/"];
/** What services may use besides base and the Broker interface: pure vocabulary and decisions. */
const SERVICE_SAFE = ["broker.ts", "credits/", "ttl/policy.ts", "snapshots/types.ts", "catalog/", "tenancy/"];

/**
 * unit -> { may: path prefixes it may import (besides base and itself), why }.
 * A unit is a top-level file (`broker.ts`) or folder (`store/`); a file may
 * have a rule of its own (`tenancy/view.ts`), which then applies instead.
 */
const RULES = {
  // base files may lean on each other (config reads paths and types), nothing above.
  ...Object.fromEntries(BASE.map((f) => [f, { may: [], why: "base vocabulary imports only base" }])),
  "store/": { may: ["snapshots/types.ts"], why: "the store imports nothing above it (only the snapshot record's type)" },
  "transport/": { may: [], why: "transports run commands; they know nothing of sandboxes' bookkeeping" },
  "credits/": { may: [], why: "credits are pure arithmetic; the broker applies them" },
  "ttl/": { may: [], why: "TTL decisions are pure; the broker and the reaper apply them" },
  "events/": { may: [], why: "delivery works on an outbox port, not on the store" },
  "snapshots/": { may: ["transport/"], why: "archives stream over a transport; records are the broker's" },
  "routing/": { may: ["catalog/", "credits/"], why: "routing decides from profiles, registrations and credits, changing nothing" },
  "catalog/": { may: ["extensions/index.ts", "extensions/define.ts"], why: "the catalog checks inputs against each extension's schema" },
  "extensions/": {
    may: ["catalog/schema.ts", "catalog/limits.ts", "snapshots/", "transport/", "telemetry/", "sandbox-shell/"],
    why: "extensions never import broker, store, api or cli",
  },
  // Scripts run inside a sandbox over an extension's sandboxCommand: extension support, beside exec-process.ts.
  "sandbox-shell/": {
    may: ["extensions/define.ts", "extensions/exec-process.ts", "transport/"],
    why: "sandbox-side scripts know the extension contract's types, nothing above it",
  },
  "tenancy/": {
    may: ["catalog/", "extensions/vm-packer/port-registry.ts"],
    why: "tenancy policy (who may use what, where inputs may point) decides; the broker applies it",
  },
  "tenancy/view.ts": { may: [...SERVICE_SAFE, "tenancy/"], why: "what a tenant is shown: presentation for the API, MCP and the dashboard" },
  "telemetry/": { may: ["transport/"], why: "host facts are read over a transport; inspection that needs extensions and records is the broker's" },
  "broker.ts": { may: [...HELPERS, "broker/"], why: "the core joins the helpers" },
  "broker/": { may: [...HELPERS, "broker.ts"], why: "the core joins the helpers" },
  "reaper.ts": { may: [...SERVICE_SAFE], why: "the reaper drives the broker's interface" },
  "api/": { may: [...SERVICE_SAFE], why: "routes call the broker, not the store" },
  "api/app.ts": {
    may: [...SERVICE_SAFE, "api/", "mcp/http.ts", "ui/index.ts"],
    why: "the HTTP server mounts /mcp and /ui; routes call the broker, not the store",
  },
  "client/": { may: [...SERVICE_SAFE, "api/schemas.ts", "extensions/define.ts"], why: "the client speaks the API's wire contract and implements Broker" },
  "cli/": {
    may: [...SERVICE_SAFE, "broker/read.ts", "broker/db.ts", "api/", "client/", "mcp/", "reaper.ts"],
    why: "commands call the broker (or its light read side, or `db` administration), not the store",
  },
  "mcp/": { may: [...SERVICE_SAFE, "api/"], why: "MCP tools call the broker, not the store" },
  "ui/": { may: [...SERVICE_SAFE, "api/"], why: "the dashboard calls the broker, not the store" },
  "index.ts": { may: [...HELPERS, ...CORE, "reaper.ts", "api/", "client/", "cli/", "mcp/", "ui/"], why: "the package entry re-exports" },
};

function unitOf(rel) {
  const slash = rel.indexOf("/");
  return slash < 0 ? rel : rel.slice(0, slash + 1);
}

function walk(dir, out = []) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (p.endsWith(".ts")) out.push(p);
  }
  return out;
}

/** Relative specifiers of static imports, re-exports and dynamic imports, with their line. */
function importsOf(text) {
  const found = [];
  const re = /(?:^|[^\w.])(?:import|export)\s*(?:type\s+)?(?:[^;"'`]*?\sfrom\s*)?["'](\.[^"']+)["']|import\(\s*["'](\.[^"']+)["']\s*\)/g;
  for (const m of text.matchAll(re)) {
    const spec = m[1] ?? m[2];
    const line = text.slice(0, m.index).split("\n").length + (text.slice(m.index, m.index + m[0].indexOf(spec)).split("\n").length - 1);
    found.push({ spec, line });
  }
  return found;
}

const problems = [];
for (const file of walk(SRC)) {
  const rel = relative(SRC, file);
  const unit = unitOf(rel);
  const own = RULES[rel];
  const rule = own ?? RULES[unit];
  if (!rule) {
    problems.push(`src/${rel}:1: no import rule for '${unit}': add one to scripts/check-imports.mjs (which layer is it?)`);
    continue;
  }
  for (const { spec, line } of importsOf(readFileSync(file, "utf8"))) {
    const target = relative(SRC, resolve(dirname(file), spec)).replace(/\.js$/, ".ts");
    if (target.startsWith("..")) {
      problems.push(`src/${rel}:${line}: imports '${spec}' from outside src/`);
      continue;
    }
    const targetUnit = unitOf(target);
    if ((targetUnit === unit && !own) || BASE.includes(target)) continue;
    if (rule.may.some((p) => target === p || (p.endsWith("/") && target.startsWith(p)))) continue;
    problems.push(`src/${rel}:${line}: '${unit}' may not import '${spec}' (src/${target}): ${rule.why}`);
  }
}

if (problems.length) {
  process.stderr.write(`${problems.join("\n")}\n${problems.length} import(s) against the layering (scripts/check-imports.mjs)\n`);
  process.exit(1);
}
process.stdout.write("imports: every folder keeps its direction\n");
