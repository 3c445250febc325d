/**
 * The file half of the Daytona toolbox fake, the routes the SDK's streamed
 * calls use (`fs.uploadFileStream`, `fs.downloadFileStream`, through the
 * generated FileSystemApi of `@daytona/toolbox-api-client`):
 *   POST /files/bulk-upload    multipart/form-data, `files[N].path` = where, `files[N].file` = bytes;
 *                              parents are made; 200 once every file is written
 *   POST /files/bulk-download  {paths: [...]} -> 200 multipart/form-data, one part per path:
 *                              `file` (filename = the path as asked) with the bytes, or `error`
 *                              with JSON {message, statusCode, code} (e.g. FILE_NOT_FOUND)
 * Paths are inside the sandbox's VM (test/fakes/vm.ts): absolute, or relative
 * to its working directory; links are followed within the VM only.
 */
import { randomBytes } from "node:crypto";
import { createReadStream, createWriteStream, mkdirSync, rmSync, statSync } from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import { dirname } from "node:path";
import { pipeline } from "node:stream/promises";
import busboy from "busboy";
import type { FakeVm } from "./vm.js";

type Fail = (status: number, message: string) => void;

async function upload(vm: FakeVm, req: IncomingMessage, res: ServerResponse, fail: Fail): Promise<void> {
  const paths = new Map<string, string>();
  const writes: Promise<void>[] = [];
  let problem: { status: number; message: string } | null = null;
  await new Promise<void>((resolve, reject) => {
    const bb = busboy({ headers: req.headers, preservePath: true, limits: { fileSize: Number.POSITIVE_INFINITY } });
    bb.on("field", (name, value) => {
      const m = /^files\[(\d+)\]\.path$/.exec(name);
      if (m?.[1]) paths.set(m[1], value);
    });
    bb.on("file", (name, file) => {
      const m = /^files\[(\d+)\]\.file$/.exec(name);
      const where = m?.[1] ? paths.get(m[1]) : undefined;
      const host = where ? vm.resolve(where) : null;
      if (!where || !host) {
        problem ??= { status: where ? 403 : 400, message: where ? `permission denied: ${where}` : `no path for part ${name}` };
        file.resume();
        return;
      }
      writes.push(
        (async () => {
          mkdirSync(dirname(host), { recursive: true });
          try {
            await pipeline(file, createWriteStream(host));
          } catch (err) {
            // A cut upload leaves no partial file, as the daemon's temp-then-rename does.
            rmSync(host, { force: true });
            throw err;
          }
        })(),
      );
    });
    bb.on("close", resolve);
    bb.on("error", reject);
    req.on("aborted", () => reject(new Error("upload aborted")));
    req.pipe(bb);
  });
  await Promise.all(writes);
  if (problem) return fail((problem as { status: number }).status, (problem as { message: string }).message);
  res.writeHead(200).end();
}

async function download(vm: FakeVm, req: IncomingMessage, res: ServerResponse, fail: Fail): Promise<void> {
  let raw = "";
  for await (const c of req) raw += c;
  const paths = (JSON.parse(raw || "{}") as { paths?: unknown }).paths;
  if (!Array.isArray(paths) || !paths.every((p) => typeof p === "string")) return fail(400, "paths must be a list of strings");
  const boundary = `fake${randomBytes(12).toString("hex")}`;
  res.writeHead(200, { "content-type": `multipart/form-data; boundary=${boundary}` });
  for (const p of paths as string[]) {
    const host = vm.resolve(p);
    let size = -1;
    try {
      const st = host ? statSync(host) : null;
      if (st?.isFile()) size = st.size;
    } catch {}
    if (size < 0) {
      const body = JSON.stringify({ message: `file not found: ${p}`, statusCode: 404, code: "FILE_NOT_FOUND" });
      res.write(`--${boundary}\r\nContent-Disposition: form-data; name="error"; filename="${p}"\r\nContent-Type: application/json\r\n\r\n${body}\r\n`);
      continue;
    }
    res.write(
      `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${p}"\r\nContent-Type: application/octet-stream\r\nContent-Length: ${size}\r\n\r\n`,
    );
    await pipeline(createReadStream(host as string), res, { end: false });
    res.write("\r\n");
  }
  res.end(`--${boundary}--\r\n`);
}

export async function serveFiles(vm: FakeVm, req: IncomingMessage, res: ServerResponse, path: string, fail: Fail): Promise<void> {
  if (req.method === "POST" && path === "/files/bulk-upload") return upload(vm, req, res, fail);
  if (req.method === "POST" && path === "/files/bulk-download") return download(vm, req, res, fail);
  return fail(404, `Cannot ${req.method} ${path} (not served by this fake)`);
}
