/**
 * GET /v1/sandboxes/{id}/exec, upgraded to a WebSocket: an interactive
 * terminal, as `kubectl exec -it` (docs/api.md "Interactive terminals").
 * Everything is decided before the upgrade, through the same pipeline as every
 * route: the bearer token, then tenancy (another project's sandbox is the
 * 404 of an unknown id), then the broker's checks (ready, a backend that can
 * give a terminal, a valid service). Only then does a command start, on a pty
 * of the server (src/broker/terminal.ts), and the socket is upgraded
 * (src/api/terminal-ws.ts).
 */
import { z } from "zod";
import type { TerminalSession } from "../broker.js";
import { SandboxerError } from "../errors.js";
import { ErrorBody, IdParams } from "./schemas.js";
import type { Slot } from "./session-caps.js";
import { type AnyRoute, COMMON_ERRORS, defineRoute } from "./spec.js";
import { visibleSandbox } from "./tenancy.js";
import { bridge, upgradeSlotOf } from "./terminal-ws.js";

const MAX_ARGS = 256;

/** After a hang-up, the slot is given back this long later even if the backend never says the command ended. */
const HANGUP_GRACE_MS = 10_000;

/**
 * The session, giving its terminal slot back once it ends: the command exits
 * (also the SIGKILL that follows a hang-up), the socket closes or the upgrade
 * is abandoned. A vendor that never reports the end cannot keep the slot.
 */
function heldUntilEnd(s: TerminalSession, held: Slot): TerminalSession {
  s.exited.finally(() => held.release()).catch(() => {});
  return {
    ...s,
    write: (d) => s.write(d),
    resize: (z) => s.resize(z),
    onData: (fn) => s.onData(fn),
    exited: s.exited,
    close() {
      setTimeout(() => held.release(), HANGUP_GRACE_MS).unref();
      s.close();
    },
  };
}

export const TerminalQuery = z.strictObject({
  tty: z.enum(["1", "true"]).describe("1: a terminal (the only mode of this route; a command without one is POST .../exec)"),
  cmd: z.string().min(1).max(4096).optional().describe("the command, one argv element per repeated `cmd` parameter, run without a shell; default sh"),
  service: z.string().min(1).max(100).optional().describe("the compose service whose container runs it"),
  cols: z.coerce.number().int().min(1).max(1000).default(80).describe("the terminal's width at the start"),
  rows: z.coerce.number().int().min(1).max(1000).default(24).describe("the terminal's height at the start"),
});

export const terminalRoutes: AnyRoute[] = [
  defineRoute({
    method: "get",
    path: "/v1/sandboxes/{id}/exec",
    operationId: "execTerminal",
    summary:
      "An interactive terminal over a WebSocket (send Connection: Upgrade, Upgrade: websocket): binary frames carry keys in and the screen out; text frames carry JSON control: the client sends {type:resize,cols,rows}, the server ends with {type:exit,exitCode} (close 1000) or {type:error,code,message} (close 1011)",
    tag: "sandboxes",
    auth: "token",
    params: IdParams,
    query: TerminalQuery,
    headers: [
      { name: "Upgrade", description: "websocket" },
      { name: "Sec-WebSocket-Key", description: "as RFC 6455 says" },
    ],
    responses: {
      101: { description: "switched to the WebSocket protocol; the command runs on a pty until it exits or the socket closes (a close hangs the terminal up)" },
      ...COMMON_ERRORS,
      400: { description: "not an upgrade request, or a bad parameter (SBX_USAGE)", schema: ErrorBody },
      404: { description: "no such sandbox in the caller's project (SBX_NOT_FOUND); nothing ran", schema: ErrorBody },
      409: { description: "the sandbox is not ready (SBX_INVALID_STATE)", schema: ErrorBody },
      422: { description: "its backend cannot give a command a terminal, or has no services (SBX_UNSUPPORTED)", schema: ErrorBody },
      429: { description: "this token or its project holds as many open terminals as sessionLimits allow (SBX_SESSION_LIMIT); nothing ran", schema: ErrorBody },
    },
    async handle({ c, state, principal, params, query }) {
      // Tenancy first: another project's id is refused before anything else is looked at or run.
      await visibleSandbox(state.broker, principal, params.id);
      const slot = upgradeSlotOf(c.env);
      if (!slot) {
        throw new SandboxerError(
          "SBX_USAGE",
          "GET /v1/sandboxes/{id}/exec is a WebSocket: send Connection: Upgrade and Upgrade: websocket (`sandboxer exec -it` does); POST .../exec runs a command without a terminal",
          {
            details: { field: "Upgrade" },
          },
        );
      }
      const argv = c.req.queries("cmd") ?? ["sh"];
      if (argv.length > MAX_ARGS || argv.some((a) => a.length === 0 || a.length > 4096)) {
        throw new SandboxerError("SBX_USAGE", `cmd: at most ${MAX_ARGS} arguments of 1 to 4096 characters`, { details: { field: "cmd" } });
      }
      // The token's and project's terminal limits, before anything runs (a refusal is the 429 of SBX_SESSION_LIMIT).
      const held = await state.caps.open("terminals", principal);
      let session: TerminalSession;
      try {
        session = heldUntilEnd(await state.broker.terminal(params.id, argv, { service: query.service, cols: query.cols, rows: query.rows }), held);
      } catch (err) {
        held.release();
        throw err;
      }
      slot.accept(
        (ws) => bridge(ws, session, state.shutdown),
        () => session.close(),
      );
      // The upgrade listener answers 101 itself; this response only tells the access log the route accepted.
      return new Response(null, { status: 200 });
    },
  }),
];
