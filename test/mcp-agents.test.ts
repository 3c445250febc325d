/**
 * Files and long-running processes through MCP (write_file, read_file,
 * list_files, start_process, read_process_output, kill_process, exec
 * timeouts), over both transports. These tools call the broker's file and
 * process operations; the suite runs once the broker has them (it skips,
 * saying so, on a broker from before).
 */
import type { Client } from "@modelcontextprotocol/client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createBroker } from "../src/broker.js";
import { makeHome, type TestHome } from "./helpers/home.js";
import { callErr, callOk, connectHttp, connectStdio, mintToken, type Served, startServe } from "./helpers/mcp.js";
import { buildPrivateCli, type PrivateCli } from "./helpers/private-cli.js";

const OPS = ["writeFile", "readFile", "listFiles", "startProcess", "processOutput", "killProcess"];

/** Whether this build's broker has the file and process operations the tools call. */
async function brokerHasAgentOps(): Promise<boolean> {
  const h = makeHome();
  try {
    const b = createBroker({ env: h.env }) as unknown as Record<string, unknown>;
    const has = OPS.every((m) => typeof b[m] === "function");
    await (b as unknown as { close(): Promise<void> }).close();
    return has;
  } finally {
    await h.cleanup();
  }
}

const HAS_AGENT_OPS = await brokerHasAgentOps();

type Proc = { pid: string; state: string; exitCode: number | null };
type Output = { data: string; nextOffset: number; done: boolean; exitCode: number | null };

describe.runIf(HAS_AGENT_OPS)("files and processes over MCP", () => {
  let cli: PrivateCli;
  let home: TestHome;
  let served: Served;
  const clients: Client[] = [];
  let p1: Client;
  let p2: Client;

  beforeAll(async () => {
    cli = await buildPrivateCli();
    home = makeHome();
    served = await startServe(cli, home.env);
    p1 = await connectHttp(served.url, await mintToken(cli, home.env, "agt", "p1"));
    p2 = await connectHttp(served.url, await mintToken(cli, home.env, "agt", "p2"));
    clients.push(p1, p2);
    const stdio = await connectStdio(cli, home.env);
    clients.push(stdio.client);
  });

  afterAll(async () => {
    for (const c of clients) await c.close().catch(() => {});
    await served?.stop();
    await home?.cleanup();
    cli?.cleanup();
  });

  const each = () =>
    [
      ["HTTP", () => p1],
      ["stdio", () => clients[2] as Client],
    ] as const;

  it.each(each())("write, list and read files (%s)", async (_name, get) => {
    const c = get();
    const sb = await callOk<{ id: string }>(c, "create_sandbox", { profile: "profile.local" });
    try {
      expect(await callOk(c, "write_file", { id: sb.id, path: "/workspace/dir/hello.txt", content: "héllo\n" })).toMatchObject({ bytes: 7 });
      const binary = Buffer.from([0, 255, 1, 254, 10]);
      await callOk(c, "write_file", { id: sb.id, path: "/workspace/dir/bin", content: binary.toString("base64"), encoding: "base64", mode: "755" });
      expect(await callOk(c, "read_file", { id: sb.id, path: "/workspace/dir/hello.txt" })).toMatchObject({
        content: "héllo\n",
        encoding: "text",
        size: 7,
        truncated: false,
      });
      // Not UTF-8: comes back as base64 even when text was asked for, never mangled.
      const back = await callOk<{ content: string; encoding: string }>(c, "read_file", { id: sb.id, path: "/workspace/dir/bin" });
      expect(back.encoding).toBe("base64");
      expect(Buffer.from(back.content, "base64")).toEqual(binary);
      expect(await callOk(c, "read_file", { id: sb.id, path: "/workspace/dir/hello.txt", maxBytes: 2 })).toMatchObject({ size: 7, truncated: true });
      expect(await callOk(c, "exec_command", { id: sb.id, command: "stat -c %a /workspace/dir/bin; cat /workspace/dir/hello.txt" })).toMatchObject({
        stdout: "755\nhéllo\n",
      });

      await callOk(c, "exec_command", { id: sb.id, command: "mkdir -p /workspace/many && cd /workspace/many && for i in $(seq 1 30); do : > f$i; done" });
      const some = await callOk<{ entries: { name: string; type: string }[]; truncated: boolean; total: number }>(c, "list_files", {
        id: sb.id,
        path: "/workspace/many",
        limit: 10,
      });
      expect(some).toMatchObject({ truncated: true, total: 30 });
      expect(some.entries).toHaveLength(10);
      const dir = await callOk<{ entries: { name: string; type: string }[] }>(c, "list_files", { id: sb.id, path: "/workspace/dir" });
      expect(dir.entries.map((e) => [e.name, e.type]).sort()).toEqual([
        ["bin", "file"],
        ["hello.txt", "file"],
      ]);
    } finally {
      await callOk(c, "destroy_sandbox", { id: sb.id });
    }
  });

  it("a link pointing out of the sandbox never reads or writes the host", async () => {
    const sb = await callOk<{ id: string }>(p1, "create_sandbox", { profile: "profile.local" });
    try {
      await callOk(p1, "exec_command", { id: sb.id, command: "ln -s /etc/shadow /workspace/shadow && ln -s ../../../../../../etc /workspace/up" });
      const hostShadow = (await import("node:fs")).readFileSync("/etc/shadow", "utf8");
      for (const path of ["/workspace/shadow", "/workspace/up/shadow", "../../../../etc/shadow"]) {
        const r = await p1.callTool({ name: "read_file", arguments: { id: sb.id, path } });
        expect(JSON.stringify(r), path).not.toContain(hostShadow.slice(0, 40));
      }
      const before = (await import("node:fs")).statSync("/etc/hostname").mtimeMs;
      await p1.callTool({ name: "write_file", arguments: { id: sb.id, path: "/workspace/up/hostname", content: "pwned" } });
      expect((await import("node:fs")).readFileSync("/etc/hostname", "utf8")).not.toContain("pwned");
      expect((await import("node:fs")).statSync("/etc/hostname").mtimeMs).toBe(before);
    } finally {
      await callOk(p1, "destroy_sandbox", { id: sb.id });
    }
  });

  it.each(each())("start a process, poll its output by offset, kill it (%s)", async (_name, get) => {
    const c = get();
    const sb = await callOk<{ id: string }>(c, "create_sandbox", { profile: "profile.local" });
    try {
      const proc = await callOk<Proc>(c, "start_process", { id: sb.id, command: "echo started; i=0; while :; do i=$((i+1)); echo tick $i; sleep 0.2; done" });
      expect(proc.state).toBe("running");
      let offset = 0;
      let seen = "";
      while (!seen.includes("tick 3")) {
        const out = await callOk<Output>(c, "read_process_output", { id: sb.id, pid: proc.pid, offset });
        expect(out.done).toBe(false);
        seen += out.data;
        offset = out.nextOffset;
      }
      expect(seen.startsWith("started\ntick 1\n")).toBe(true);
      const killed = await callOk<Proc>(c, "kill_process", { id: sb.id, pid: proc.pid, signal: "KILL" });
      expect(killed.pid).toBe(proc.pid);
      let last: Output;
      do last = await callOk<Output>(c, "read_process_output", { id: sb.id, pid: proc.pid, offset });
      while (!last.done);
      expect((await callErr(c, "kill_process", { id: sb.id, pid: "no-such-pid" })).code).toBe("SBX_NOT_FOUND");
    } finally {
      await callOk(c, "destroy_sandbox", { id: sb.id });
    }
  });

  it("exec_command with a timeout ends the command and its children", async () => {
    const sb = await callOk<{ id: string }>(p1, "create_sandbox", { profile: "profile.local" });
    try {
      const r = await p1.callTool({ name: "exec_command", arguments: { id: sb.id, command: "sleep 300 & sleep 300; echo never", timeoutSeconds: 1 } });
      expect(JSON.stringify(r.content)).not.toContain("never");
      // By argv: the sandbox's own init is a `sleep` too (sleep infinity).
      const left = await callOk<{ stdout: string }>(p1, "exec_command", { id: sb.id, command: "ps -eo args | grep -c '^sleep 300$' || true" });
      expect(left.stdout.trim()).toBe("0");
    } finally {
      await callOk(p1, "destroy_sandbox", { id: sb.id });
    }
  });

  it("another project's files and processes answer as not found", async () => {
    const sb = await callOk<{ id: string }>(p1, "create_sandbox", { profile: "profile.local" });
    try {
      await callOk(p1, "write_file", { id: sb.id, path: "/workspace/secret", content: "p1 only" });
      const proc = await callOk<Proc>(p1, "start_process", { id: sb.id, argv: ["sleep", "60"] });
      for (const [tool, args] of [
        ["read_file", { id: sb.id, path: "/workspace/secret" }],
        ["write_file", { id: sb.id, path: "/workspace/secret", content: "p2 was here" }],
        ["list_files", { id: sb.id, path: "/workspace" }],
        ["read_process_output", { id: sb.id, pid: proc.pid }],
        ["kill_process", { id: sb.id, pid: proc.pid }],
      ] as const) {
        expect((await callErr(p2, tool, args)).code, tool).toBe("SBX_NOT_FOUND");
      }
      expect(await callOk(p1, "read_file", { id: sb.id, path: "/workspace/secret" })).toMatchObject({ content: "p1 only" });
      expect((await callOk<Output>(p1, "read_process_output", { id: sb.id, pid: proc.pid })).done).toBe(false);
    } finally {
      await callOk(p1, "destroy_sandbox", { id: sb.id });
    }
  });
});

describe.skipIf(HAS_AGENT_OPS)("files and processes over MCP (waiting for the broker's file and process operations)", () => {
  it("says so instead of failing: the tools answer SBX_UNSUPPORTED on this broker", async () => {
    const cli = await buildPrivateCli();
    const home = makeHome();
    try {
      const { client } = await connectStdio(cli, home.env);
      try {
        const sb = await callOk<{ id: string }>(client, "create_sandbox", { profile: "profile.local" });
        for (const [tool, args] of [
          ["read_file", { id: sb.id, path: "/workspace/x" }],
          ["start_process", { id: sb.id, argv: ["true"] }],
        ] as const) {
          expect((await callErr(client, tool, args)).code, tool).toBe("SBX_UNSUPPORTED");
        }
        await callOk(client, "destroy_sandbox", { id: sb.id });
      } finally {
        await client.close();
      }
    } finally {
      await home.cleanup();
      cli.cleanup();
    }
  });
});
