/**
 * `sandboxer cp SRC ID:DST` and `sandboxer cp ID:SRC DST`, the `docker cp` /
 * `kubectl cp` convention: files and whole directories, `-` for a tar stream
 * on stdin/stdout. Local tar does the packing and unpacking (streamed, never
 * whole in memory); the broker does the sandbox side inside the sandbox.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createReadStream, existsSync, lstatSync, mkdtempSync, readdirSync, renameSync, rmSync, statSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { posix } from "node:path";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { SandboxerError } from "../../errors.js";
import { LocalCommandOutput } from "../../broker.js";
import { noExtraPositionals, parse, requirePositional } from "../args.js";
import type { CliContext } from "../context.js";

const USAGE = "sandboxer cp [--service NAME] [-L] SRC ID:DST | cp [--service NAME] ID:SRC DST   (- = a tar stream on stdin/stdout)";
const REMOTE_RE = /^(sbx-[a-z2-7]{12}):(.*)$/s;

interface Remote {
  id: string;
  path: string;
}

function remoteOf(arg: string): Remote | null {
  const m = REMOTE_RE.exec(arg);
  if (!m) return null;
  return { id: m[1] as string, path: m[2] === "" ? "." : (m[2] as string) };
}

function exited(child: ChildProcess, what: string): Promise<void> {
  let err = "";
  child.stderr?.on("data", (d: Buffer) => {
    err = (err + d.toString()).slice(-2000);
  });
  return new Promise((ok, fail) => {
    child.on("error", (e) => fail(new SandboxerError("SBX_DEPENDENCY_MISSING", `${what}: ${e.message}`, { cause: e })));
    child.on("close", (code) => (code === 0 ? ok() : fail(new SandboxerError("SBX_EXEC_FAILED", `${what} exited ${code}: ${err.trim().slice(-400)}`))));
  });
}

export async function cp(cx: CliContext, argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, { service: { type: "string" }, "follow-link": { type: "boolean", short: "L" } }, USAGE);
  noExtraPositionals(positionals, 2, USAGE);
  const src = requirePositional(positionals, 0, "SRC", USAGE);
  const dst = requirePositional(positionals, 1, "DST", USAGE);
  const from = remoteOf(src);
  const to = remoteOf(dst);
  if (Boolean(from) === Boolean(to)) throw new SandboxerError("SBX_USAGE", `exactly one of SRC and DST is a sandbox path (ID:PATH)\nusage: ${USAGE}`);
  const svc = values.service === undefined ? {} : { service: values.service };
  const result = to ? await upload(cx, src, to, svc, values["follow-link"] === true) : await download(cx, from as Remote, dst, svc);
  if (cx.out.json) cx.out.data({ from: src, to: dst, bytes: result });
  else if (dst !== "-") cx.out.note(`copied ${result} bytes to ${dst}`);
  return 0;
}

async function upload(cx: CliContext, src: string, to: Remote, svc: { service?: string }, follow: boolean): Promise<number> {
  const broker = cx.broker();
  if (src === "-") return (await broker.putFiles(to.id, to.path, process.stdin, svc)).bytes;
  const local = resolve(src);
  if (!existsSync(local) && !lstatSafe(local)) throw new SandboxerError("SBX_NOT_FOUND", `no local file or directory '${src}'`, { details: { field: "SRC" } });
  const link = lstatSync(local).isSymbolicLink() && !follow;
  const isDir = !link && statSync(local).isDirectory();
  const there = await broker.statFile(to.id, to.path, svc);
  const intoDir = there?.type === "dir";
  if (!isDir && !link) {
    // A file: into an existing directory under its own name, else to DST itself (streamed, mode kept).
    const dest = intoDir ? posix.join(to.path, basename(local)) : to.path;
    if (!there && to.path.endsWith("/"))
      throw new SandboxerError("SBX_NOT_FOUND", `directory '${to.path}' does not exist in ${to.id}`, { details: { field: "DST" } });
    const mode = statSync(local).mode & 0o7777;
    return (await broker.writeFile(to.id, dest, createReadStream(local), { ...svc, mode })).bytes;
  }
  if (link && !intoDir) throw new SandboxerError("SBX_USAGE", `'${src}' is a link: copy it into an existing directory, or follow it with -L`);
  // A directory: into an existing directory under its own name, else it becomes DST.
  // Started by whoever reads it; a local broker runs it in one pipeline with the sandbox's side (transport/pipe-into.ts).
  const tar = new LocalCommandOutput(intoDir ? ["tar", "-C", dirname(local), "-cf", "-", "--", basename(local)] : ["tar", "-C", local, "-cf", "-", "."]);
  return (await broker.putFiles(to.id, to.path, tar, svc)).bytes;
}

/**
 * Feed a tar to a local `tar -x`. tar may exit once it has read the end of the
 * archive, before the zero padding after it: the pipe closing then is fine
 * when tar succeeded; tar's own failure is the error to report.
 */
async function unpack(stream: Readable, child: ChildProcess): Promise<void> {
  const done = exited(child, "tar (unpacking)");
  const fed = pipeline(stream, child.stdin as NodeJS.WritableStream).then(
    () => null,
    (e: unknown) => e,
  );
  await done;
  const e = await fed;
  if (e && !/PREMATURE_CLOSE|EPIPE/.test(String((e as { code?: string }).code))) throw e;
  stream.destroy();
}

function lstatSafe(p: string) {
  try {
    return lstatSync(p);
  } catch {
    return null;
  }
}

async function download(cx: CliContext, from: Remote, dst: string, svc: { service?: string }): Promise<number> {
  const broker = cx.broker();
  const stream = await broker.getFiles(from.id, from.path, svc);
  let bytes = 0;
  stream.on("data", (c: Buffer) => {
    bytes += c.length;
  });
  if (dst === "-") {
    await pipeline(stream, process.stdout);
    return bytes;
  }
  const local = resolve(dst);
  // Never restore owners or set-id bits from what a sandbox produced; the umask applies.
  const untar = (dir: string) => spawn("tar", ["-x", "-f", "-", "-C", dir, "--no-same-owner", "--no-same-permissions"], { stdio: ["pipe", "ignore", "pipe"] });
  if (existsSync(local) && statSync(local).isDirectory()) {
    await unpack(stream, untar(local));
    return bytes;
  }
  if (!existsSync(dirname(local))) throw new SandboxerError("SBX_NOT_FOUND", `local directory '${dirname(dst)}' does not exist`, { details: { field: "DST" } });
  // Unpacked beside DST, then renamed into place: DST appears whole or not at all.
  const tmp = mkdtempSync(join(dirname(local), ".sbx-cp-"));
  try {
    await unpack(stream, untar(tmp));
    // The archive has one top entry, named after the source.
    const top = readdirSync(tmp);
    renameSync(top.length === 1 ? join(tmp, top[0] as string) : tmp, local);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  return bytes;
}
