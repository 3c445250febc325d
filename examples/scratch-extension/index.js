// @ts-check
/**
 * ext.scratch: an example sand-boxer extension kept outside the repository's
 * source, written only against the package entry (`sand-boxer`), as an
 * operator's own extension would be. Each sandbox is a directory
 * `<root>/<sandbox id>` on this machine; `exec` runs argv there as a plain
 * process. There is no isolation: it is a template to copy, and a test of the
 * extension contract (test/ext-scratch.test.ts runs the contract suite on it).
 *
 * Register it with a file in SANDBOXER_EXTENSIONS_DIR (scratch.yaml):
 *   id: ext.scratch
 *   module: sandboxer-ext-scratch      # or a path: ./scratch-extension/index.js
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { defineExtension, SandboxerError, spawnExec, z } from "sand-boxer";

/** Marks a directory as a sandbox's, so teardown removes only what it made. */
const MARKER = ".sandboxer-id";
const ID = /^sbx-[a-z2-7]{12}$/;

/** Where the directories live: `<SANDBOXER_HOME>/scratch` (list finds them there without a record). */
const rootOf = (/** @type {{ paths: { home: string } }} */ ctx) => join(ctx.paths.home, "scratch");

const inputs = z.object({
  /** Written to `greeting.txt` in the new directory. */
  greeting: z.string().max(200).optional(),
});

/** The handle: parsed back with this schema before every call, so `h.workspace` is a string, no cast. */
const handle = z.object({ workspace: z.string() });

/** Remove the directory of `id` under `root` when it carries our marker (never anything else). */
function removeOwn(/** @type {string} */ root, /** @type {string} */ id) {
  const dir = join(root, id);
  if (!existsSync(dir)) return;
  const mark = existsSync(join(dir, MARKER)) ? readFileSync(join(dir, MARKER), "utf8").trim() : "";
  if (mark !== id) throw new SandboxerError("SBX_TEARDOWN_FAILED", `${dir} does not carry ${id}'s marker; left alone`);
  rmSync(dir, { recursive: true, force: true });
}

export default defineExtension({
  id: "ext.scratch",
  kind: "self-hosted",
  description: "Example extension: a scratch directory per sandbox on this machine (no isolation)",
  // Declared = implemented: exec is true because `exec` exists; nothing else is offered.
  capabilities: { snapshot: false, restore: false, build: false, exec: true },
  // This machine only, through node:fs and child processes: no transport, no host to probe.
  placement: { hosts: ["localhost"], shell: false },
  inputs,
  handle,

  async provision(ctx, input) {
    const root = rootOf(ctx);
    const workspace = join(root, ctx.sandbox.id);
    mkdirSync(workspace, { recursive: true, mode: 0o700 });
    writeFileSync(join(workspace, MARKER), `${ctx.sandbox.id}\n`);
    // Checkpoint as soon as something exists: a crash from here on leaves enough to tear it down.
    await ctx.checkpoint({ workspace });
    if (input.greeting) writeFileSync(join(workspace, "greeting.txt"), `${input.greeting}\n`);
    ctx.progress(`scratch directory ${workspace} ready`);
    return { workspace };
  },

  async waitReady(ctx, h) {
    if (!existsSync(h.workspace)) throw new SandboxerError("SBX_PROVISION_FAILED", `${h.workspace} vanished`);
    return { kind: "directory", host: "localhost", workspace: h.workspace, exec: `sandboxer exec ${ctx.sandbox.id} -- CMD...` };
  },

  async alive(_ctx, h) {
    return existsSync(h.workspace);
  },

  async teardown(ctx, h) {
    // Idempotent; without a handle (a crash before the checkpoint) the id names the directory.
    removeOwn(h ? join(h.workspace, "..") : rootOf(ctx), ctx.sandbox.id);
  },

  async exec(_ctx, h, argv, io, opts) {
    // argv stays argv: the workspace and the command travel as positional arguments, never as shell text.
    return spawnExec(["sh", "-c", 'cd "$1" && shift && exec "$@"', "sh", h.workspace, ...argv], io, { onOutput: opts.onOutput });
  },

  async list(ctx) {
    const root = rootOf(ctx);
    if (!existsSync(root)) return [];
    return readdirSync(root)
      .filter((name) => ID.test(name) && existsSync(join(root, name, MARKER)))
      .map((name) => ({ sandboxId: name, kind: "directory", ref: join(root, name) }));
  },
});
