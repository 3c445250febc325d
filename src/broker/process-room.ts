/**
 * Running background processes per sandbox (`sessionLimits.processes.perSandbox`
 * in the config, for every caller: API, MCP and the local CLI). Each local one
 * keeps a supervisor process on this machine for its life, so a sandbox could
 * otherwise fill the server with them. Starts in one sandbox are taken one
 * at a time in this process, so two of them never both see the last free place;
 * another process on the machine (a CLI beside `serve`) may still race one in.
 */
import { SandboxerError } from "../errors.js";

const queues = new Map<string, Promise<unknown>>();

/** Run `start` if fewer than `limit` processes run in the sandbox (0 = no limit); SBX_SESSION_LIMIT otherwise. */
export async function inProcessRoom<T>(key: string, id: string, limit: number, running: () => Promise<number>, start: () => Promise<T>): Promise<T> {
  if (limit <= 0) return start();
  const before = queues.get(key) ?? Promise.resolve();
  const turn = before.then(async () => {
    const n = await running();
    if (n >= limit)
      throw new SandboxerError(
        "SBX_SESSION_LIMIT",
        `processes: sandbox ${id} already runs ${n} background process${n === 1 ? "" : "es"}, its limit (sessionLimits.processes.perSandbox = ${limit}); kill one or wait for one to end`,
        { details: { kind: "processes", limit, count: n, scope: "perSandbox" } },
      );
    return start();
  });
  const settled = turn.catch(() => undefined);
  queues.set(key, settled);
  void settled.then(() => {
    if (queues.get(key) === settled) queues.delete(key);
  });
  return turn;
}
