/**
 * Bytes to and from a Modal sandbox through the task command router's exec
 * streams (`sandbox.exec` with binary stdin/stdout: TaskExecStdinWrite and
 * TaskExecStdioRead carry the bytes in order, with offsets), so a file of any
 * size streams both ways. The SDK's `sandbox.filesystem` calls go through a
 * tool Modal installs in its containers and read a file whole into memory
 * (`readBytes`) or go by way of a local file; plain `cat` needs neither.
 */
import type { Readable, Writable } from "node:stream";

/** The parts of a Modal sandbox handle these use. */
interface ExecSandbox {
  exec(
    argv: string[],
    params: { mode: "binary"; stdout: "pipe"; stderr: "pipe" },
  ): Promise<{
    stdin: WritableStream<Uint8Array>;
    stdout: AsyncIterable<Uint8Array>;
    stderr: AsyncIterable<Uint8Array>;
    wait(): Promise<number>;
  }>;
}

const WRITE = 'mkdir -p -- "$(dirname -- "$1")" && cat > "$1"';
const READ = '[ -f "$1" ] || { echo "no file $1" >&2; exit 2; }; exec cat -- "$1"';

async function drainText(from: AsyncIterable<Uint8Array>): Promise<string> {
  const parts: Buffer[] = [];
  for await (const c of from) parts.push(Buffer.from(c));
  return Buffer.concat(parts).toString("utf8").trim().slice(-300);
}

export async function upload(sb: ExecSandbox, path: string, src: Readable): Promise<void> {
  const p = await sb.exec(["sh", "-c", WRITE, "sh", path], { mode: "binary", stdout: "pipe", stderr: "pipe" });
  const err = drainText(p.stderr);
  const out = drainText(p.stdout);
  const w = p.stdin.getWriter();
  try {
    for await (const chunk of src) await w.write(new Uint8Array(chunk as Buffer));
  } finally {
    await w.close();
  }
  const code = await p.wait();
  await out;
  if (code !== 0) throw new Error(`writing ${path} in the sandbox failed (exit ${code}): ${await err}`);
}

export async function download(sb: ExecSandbox, path: string, out: Writable): Promise<void> {
  const p = await sb.exec(["sh", "-c", READ, "sh", path], { mode: "binary", stdout: "pipe", stderr: "pipe" });
  await p.stdin.close();
  const err = drainText(p.stderr);
  for await (const chunk of p.stdout) {
    if (!out.write(chunk))
      await new Promise<void>((resolve, reject) => {
        out.once("drain", resolve);
        out.once("error", reject);
      });
  }
  const code = await p.wait();
  if (code !== 0) throw new Error(`reading ${path} in the sandbox failed (exit ${code}): ${await err}`);
}
