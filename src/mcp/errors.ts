/**
 * Tool errors as agents read them: an `isError` result whose text starts with
 * our SBX_ code, then what happened, then what to do about it. The SDK's own
 * argument check answers the same way (src/mcp/schema.ts puts SBX_USAGE first).
 */
import type { CallToolResult } from "@modelcontextprotocol/server";
import type { Principal } from "../api/tokens.js";
import { type ErrorCode, toSandboxerError } from "../errors.js";
import { messageFor } from "./view.js";

/** The next step for an agent that met this code; codes without one get the generic retry advice. */
const HINTS: Partial<Record<ErrorCode, string>> = {
  SBX_USAGE: "Fix the named argument and call the tool again.",
  SBX_NOT_FOUND: "Check the id: list_sandboxes shows the sandboxes you can use.",
  SBX_PROFILE_NOT_FOUND: "Call list_profiles for the profiles you may use.",
  SBX_PROFILE_INVALID: "That profile is broken on the server; pick another one from list_profiles.",
  SBX_EXTENSION_NOT_FOUND: "Leave the backend to the profile (list_profiles).",
  SBX_EXTENSION_DISABLED: "That backend is switched off; pick another profile from list_profiles.",
  SBX_INPUT_UNKNOWN: "list_profiles shows the inputs each profile takes.",
  SBX_INPUT_MISSING: "list_profiles shows the inputs each profile takes and which are required.",
  SBX_INPUT_INVALID: "list_profiles shows each input's type; fix the value and call again.",
  SBX_TTL_INVALID: "Give a duration like 30m or 2h, within the profile's ttl.max (list_profiles).",
  SBX_HOST_NOT_FOUND: "Leave the host out and let the profile place the sandbox.",
  SBX_UNSUPPORTED: "This sandbox's backend cannot do that; use a profile whose backend can (profile.local runs on this machine).",
  SBX_INVALID_STATE: "Call get_sandbox for its state: it must be ready. Create a new sandbox if it was destroyed or failed.",
  SBX_BUSY: "Another operation is running on it; wait a few seconds and call again.",
  SBX_INSUFFICIENT_CREDITS: "Destroy sandboxes you no longer need (list_sandboxes), or ask the operator to add credits.",
  SBX_NO_CAPACITY: "Every backend is full: destroy sandboxes you no longer need, or try again in a minute.",
  SBX_FORBIDDEN: "Your token does not allow this; ask the operator.",
  SBX_UNAUTHORIZED: "The token is missing or revoked; ask the operator for a new one.",
  SBX_RATE_LIMITED: "Slow down: wait a second and call again.",
  SBX_IDEMPOTENCY_CONFLICT: "Use a new idempotency key for a different request.",
  SBX_HOST_UNREACHABLE: "The host is down; try again later or use another profile.",
  SBX_PROVISION_FAILED: "Nothing was left behind; call create_sandbox again, or try another profile.",
  SBX_READY_TIMEOUT: "Nothing was left behind; call create_sandbox again, or try another profile.",
  SBX_CANCELLED: "The operation was cancelled and cleaned up; call again if you still need it.",
  SBX_EXEC_FAILED: "The command could not start: check the program exists in the sandbox (exec_command 'command -v NAME').",
  SBX_SNAPSHOT_CORRUPT: "That snapshot cannot be restored; take a new one.",
};

export function hintFor(code: ErrorCode): string {
  return HINTS[code] ?? "Call again; if it keeps failing, tell the operator (the server log has the details).";
}

/** One line an agent can act on: `SBX_CODE: message. Hint`. */
export function errorText(code: ErrorCode, message: string): string {
  const m = message.replace(/\s+$/, "");
  return `${code}: ${m}${/[.!?]$/.test(m) ? "" : "."} ${hintFor(code)}`;
}

export function toolError(err: unknown, p?: Principal): CallToolResult {
  const e = toSandboxerError(err);
  // Unexpected errors keep their details in the server log, like the API's 500s.
  let message = messageFor(p, e.message);
  if (e.code === "SBX_INTERNAL") {
    process.stderr.write(`sandboxer mcp: ${err instanceof Error ? err.stack : String(err)}\n`);
    message = "internal error (see the server log)";
  }
  return {
    isError: true,
    content: [{ type: "text", text: errorText(e.code, message) }],
    structuredContent: { error: { code: e.code, message, hint: hintFor(e.code) } },
  };
}
