/**
 * `sandboxer exec -it` and `sandboxer shell` through SANDBOXER_URL: the
 * server's terminal WebSocket (src/api/routes-terminal.ts), as `kubectl exec
 * -it` reaches a pod. Our terminal goes raw (the far end's pty echoes and
 * handles Ctrl-C), keys go out as binary frames, the screen comes back, a
 * window size change is sent as `resize`; the terminal is restored however
 * the session ends.
 */
import WebSocket from "ws";
import type { TerminalServerMessage as ServerMessage } from "../api/schemas.js";
import { isErrorCode, SandboxerError } from "../errors.js";
import type { ExecResult } from "../extensions/define.js";
import { decodeResponse, type SandboxerClient } from "./index.js";

function sizeOf(out: NodeJS.WriteStream): { cols: number; rows: number } {
  return out.isTTY && out.columns && out.rows ? { cols: out.columns, rows: out.rows } : { cols: 80, rows: 24 };
}

/** The ws:// URL of the route, with the command as repeated `cmd` parameters (argv, no shell). */
export function terminalUrl(
  c: SandboxerClient,
  id: string,
  argv: string[],
  o: { service?: string | undefined; cols: number; rows: number },
): { url: string; headers: Record<string, string> } {
  const { url, headers } = c.prepare(`/v1/sandboxes/${encodeURIComponent(id)}/exec`, { query: { tty: "1", cols: o.cols, rows: o.rows, service: o.service } });
  const u = new URL(url);
  for (const a of argv) u.searchParams.append("cmd", a);
  u.protocol = u.protocol === "https:" ? "wss:" : "ws:";
  return { url: u.toString(), headers };
}

export function remoteTerminal(c: SandboxerClient, id: string, argv: string[], o: { service?: string | undefined } = {}): Promise<ExecResult> {
  const stdin = process.stdin;
  const stdout = process.stdout;
  const { url, headers } = terminalUrl(c, id, argv, { service: o.service, ...sizeOf(stdout) });
  return new Promise<ExecResult>((resolve, reject) => {
    const ws = new WebSocket(url, { headers, maxPayload: 4 * 1024 * 1024 });
    let raw = false;
    let outcome: ServerMessage | undefined;
    const onKeys = (d: Buffer) => {
      if (ws.readyState === WebSocket.OPEN) ws.send(d, { binary: true });
    };
    const onResize = () => {
      if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ type: "resize", ...sizeOf(stdout) }));
    };
    const restore = () => {
      stdin.off("data", onKeys);
      stdout.off("resize", onResize);
      if (raw) stdin.setRawMode(false);
      raw = false;
      stdin.pause();
    };
    ws.on("unexpected-response", (_req, res) => {
      // Refused before the upgrade (unknown or another project's sandbox, not ready, no terminal): the API's JSON error.
      let text = "";
      res.on("data", (d: Buffer) => {
        text += d.toString();
      });
      res.on("end", () => {
        try {
          decodeResponse(res.statusCode ?? 500, text);
          reject(new SandboxerError("SBX_INTERNAL", `the server answered ${res.statusCode} instead of a terminal`));
        } catch (err) {
          reject(err);
        }
      });
    });
    ws.on("open", () => {
      if (stdin.isTTY) {
        stdin.setRawMode(true);
        raw = true;
      }
      stdin.on("data", onKeys);
      stdin.resume();
      stdout.on("resize", onResize);
    });
    ws.on("message", (data: Buffer, isBinary: boolean) => {
      if (isBinary) stdout.write(data);
      else outcome = JSON.parse(data.toString()) as ServerMessage;
    });
    ws.on("error", (err) => {
      restore();
      reject(
        new SandboxerError("SBX_HOST_UNREACHABLE", `terminal connection to ${c.url} failed: ${(err as NodeJS.ErrnoException).code ?? err.message}`, {
          cause: err,
        }),
      );
    });
    ws.on("close", (code, reason) => {
      restore();
      if (outcome?.type === "exit") return resolve({ exitCode: outcome.exitCode });
      if (outcome?.type === "error") return reject(new SandboxerError(isErrorCode(outcome.code) ? outcome.code : "SBX_EXEC_FAILED", outcome.message));
      reject(
        new SandboxerError(
          "SBX_HOST_UNREACHABLE",
          `the terminal connection closed without an exit code (${code}${reason.length ? `: ${reason.toString().slice(0, 100)}` : ""})`,
        ),
      );
    });
  });
}
