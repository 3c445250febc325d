/**
 * Every MCP tool, in the order `tools/list` shows them. docs/agents.md lists
 * the same names (test/mcp-tools-doc.test.ts keeps the two in sync).
 */
import type { ToolDef } from "./define.js";
import { createSandbox } from "./tools/create-sandbox.js";
import { execCommand } from "./tools/exec-command.js";
import { listFiles, readFile, writeFile } from "./tools/files.js";
import { listProfiles } from "./tools/list-profiles.js";
import { killProcess, readProcessOutput, startProcess } from "./tools/processes.js";
import { destroySandbox, extendTtl, getSandbox, listSandboxes } from "./tools/sandboxes.js";
import { restoreSnapshot, snapshotSandbox } from "./tools/snapshots.js";

export const TOOLS: readonly ToolDef[] = [
  listProfiles,
  createSandbox,
  listSandboxes,
  getSandbox,
  execCommand,
  startProcess,
  readProcessOutput,
  killProcess,
  writeFile,
  readFile,
  listFiles,
  snapshotSandbox,
  restoreSnapshot,
  extendTtl,
  destroySandbox,
];
