import { spawn } from "node:child_process";
import { Writable } from "node:stream";
import { SandboxerError } from "../../errors.js";
import type { RunResult, Transport } from "../../transport/types.js";
import type { ComposeSource } from "./compose.js";

/**
 * Run the UP script with the stack streamed on its stdin as a tar of the
 * source (the whole repo, or the one compose file), so copying and `up` are a
 * single session on the host's SSH master instead of an rsync and then an ssh.
 * The workspace is new for every create, so rsync's delta transfer would save
 * nothing here. Resolves with the remote result (stdout collected: it is the
 * short `up` output plus a `ps`); a local tar failure is an error of its own.
 */
export async function runWithStack(t: Transport, argv: readonly string[], src: ComposeSource, signal: AbortSignal): Promise<RunResult> {
  if (typeof t.stream !== "function") throw new SandboxerError("SBX_UNSUPPORTED", `the transport to host '${t.host.name}' cannot stream files`);
  // `--` and a relative name: a compose file called `-x` is a file, not an option.
  const what = src.single ? ["--", src.file] : ["."];
  const tar = spawn("tar", ["-C", src.dir, "-cf", "-", ...what], { stdio: ["ignore", "pipe", "pipe"], signal });
  let tarErr = "";
  tar.stderr.on("data", (d: Buffer) => {
    tarErr = (tarErr + d.toString()).slice(-2000);
  });
  const packed = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    tar.on("error", (err) => {
      tarErr += err.message;
      resolve({ code: null, signal: null });
    });
    tar.on("close", (code, sig) => resolve({ code, signal: sig }));
  });
  const chunks: Buffer[] = [];
  const stdout = new Writable({
    write(chunk: Buffer, _enc, done) {
      chunks.push(chunk);
      done();
    },
  });
  const res = await t.stream(argv, { stdin: tar.stdout, stdout, signal });
  const packing = await packed;
  // The remote side quitting early (it could not unpack) breaks tar's pipe: that is the remote's story to tell.
  const brokenPipe = packing.signal === "SIGPIPE" || /Broken pipe/i.test(tarErr);
  if (packing.code !== 0 && !brokenPipe && !signal.aborted) {
    const how = packing.code === null ? (packing.signal ?? "did not start") : `exit ${packing.code}`;
    throw new SandboxerError(
      "SBX_PROVISION_FAILED",
      `packing ${src.single ? src.file : src.dir} for host '${t.host.name}' failed (tar ${how}): ${tarErr.trim().slice(-400)}`,
    );
  }
  return { ...res, stdout: Buffer.concat(chunks).toString("utf8") };
}
