/**
 * Files in and out of a sandbox: `PUT/GET/DELETE /v1/sandboxes/{id}/files?path=`.
 * Bodies stream both ways (the upload is counted against the profile's
 * `files.maxUpload`, never held whole); a directory travels as a tar.
 * Every route first checks the sandbox is visible to the token (another
 * project's id is 404).
 */
import { Readable } from "node:stream";
import type { ReadableStream as WebStream } from "node:stream/web";
import { SandboxerError } from "../errors.js";
import { ErrorBody, FileDeleted, FileList, FilesDeleteQuery, FilesGetQuery, FilesPutQuery, FileWritten, IdParams } from "./schemas.js";
import { type AnyRoute, COMMON_ERRORS, defineRoute } from "./spec.js";
import { visibleSandbox } from "./tenancy.js";

const err = (description: string) => ({ description, schema: ErrorBody });
const TAR = "application/x-tar";
const yes = (v: string | undefined) => v === "1" || v === "true";
const svc = (service: string | undefined) => (service === undefined ? {} : { service });

const FILE_ERRORS = {
  ...COMMON_ERRORS,
  404: err("no such sandbox visible to this token, or nothing at that path"),
  409: err("the sandbox is not ready"),
  422: err("the extension cannot move files"),
};

/** Node stream of a request body (an empty one for no body). */
function bodyStream(raw: Request): Readable {
  return raw.body ? Readable.fromWeb(raw.body as unknown as WebStream<Uint8Array>) : Readable.from([]);
}

function streamed(stream: Readable, type: string, name: string): Response {
  const safe = name.replace(/[^A-Za-z0-9._-]/g, "_").slice(0, 100) || "file";
  return new Response(Readable.toWeb(stream) as unknown as ReadableStream, {
    status: 200,
    headers: { "Content-Type": type, "Content-Disposition": `attachment; filename="${safe}"`, "X-Content-Type-Options": "nosniff" },
  });
}

export const fileRoutes: AnyRoute[] = [
  defineRoute({
    method: "put",
    path: "/v1/sandboxes/{id}/files",
    operationId: "putFiles",
    summary: "Upload raw bytes to a file, or a tar (Content-Type: application/x-tar) into a directory; whole or nothing",
    tag: "files",
    auth: "token",
    params: IdParams,
    query: FilesPutQuery,
    rawBody: { "application/octet-stream": "the file's bytes", [TAR]: "a tar extracted into `path` (a directory, made if missing)" },
    responses: {
      200: { description: "written", schema: FileWritten },
      ...FILE_ERRORS,
      413: err("larger than the profile's files.maxUpload (SBX_TOO_LARGE); nothing was written"),
    },
    async handle({ c, state, principal, params, query }) {
      await visibleSandbox(state.broker, principal, params.id);
      const body = bodyStream(c.req.raw);
      if ((c.req.header("Content-Type") ?? "").split(";")[0]?.trim() === TAR) {
        const r = await state.broker.putFiles(params.id, query.path, body, svc(query.service));
        return { status: 200, body: { path: query.path, bytes: r.bytes, kind: "tar" } };
      }
      const mode = query.mode === undefined ? {} : { mode: Number.parseInt(query.mode, 8) };
      const r = await state.broker.writeFile(params.id, query.path, body, { ...svc(query.service), ...mode });
      return { status: 200, body: { path: r.path, bytes: r.bytes, kind: "file" } };
    },
  }),
  defineRoute({
    method: "get",
    path: "/v1/sandboxes/{id}/files",
    operationId: "getFiles",
    summary: "A file's bytes, a directory as a tar (or any path with Accept: application/x-tar); list=1: a bounded listing; stat=1: the entry itself",
    tag: "files",
    auth: "token",
    params: IdParams,
    query: FilesGetQuery,
    headers: [{ name: "Accept", description: "application/x-tar: a tar even for a single file" }],
    responses: {
      200: {
        description: "the listing (list=1; stat=1: one FileEntry), the file, or a tar",
        schema: FileList,
        raw: { "application/octet-stream": "a regular file's bytes", [TAR]: "a tar with one top entry named after the path" },
      },
      ...FILE_ERRORS,
    },
    async handle({ c, state, principal, params, query }) {
      await visibleSandbox(state.broker, principal, params.id);
      const o = svc(query.service);
      if (yes(query.stat)) {
        const entry = await state.broker.statFile(params.id, query.path, o);
        if (!entry)
          throw new SandboxerError("SBX_NOT_FOUND", `no file or directory '${query.path.slice(0, 200)}' in ${params.id}`, { details: { field: "path" } });
        return { status: 200, body: entry };
      }
      if (yes(query.list))
        return {
          status: 200,
          body: await state.broker.listFiles(params.id, query.path, { ...o, ...(query.limit === undefined ? {} : { limit: query.limit }) }),
        };
      const name = query.path.replace(/\/+$/, "").split("/").pop() ?? "file";
      const asTar = (c.req.header("Accept") ?? "").includes(TAR);
      if (!asTar) {
        const entry = await state.broker.statFile(params.id, query.path, o);
        if (!entry)
          throw new SandboxerError("SBX_NOT_FOUND", `no file or directory '${query.path.slice(0, 200)}' in ${params.id}`, { details: { field: "path" } });
        if (entry.type !== "dir") {
          try {
            return streamed(await state.broker.openFile(params.id, query.path, o), "application/octet-stream", name);
          } catch (e) {
            // A link to a directory (inside the sandbox) is not a file: send it as a tar like a directory.
            if (!(e instanceof SandboxerError && e.code === "SBX_INPUT_INVALID")) throw e;
          }
        }
      }
      return streamed(await state.broker.getFiles(params.id, query.path, o), TAR, `${name}.tar`);
    },
  }),
  defineRoute({
    method: "delete",
    path: "/v1/sandboxes/{id}/files",
    operationId: "deleteFiles",
    summary: "Remove a file or link (with recursive=1, a directory and what is in it)",
    tag: "files",
    auth: "token",
    params: IdParams,
    query: FilesDeleteQuery,
    responses: { 200: { description: "removed", schema: FileDeleted }, ...FILE_ERRORS },
    async handle({ state, principal, params, query }) {
      await visibleSandbox(state.broker, principal, params.id);
      await state.broker.deleteFile(params.id, query.path, { ...svc(query.service), recursive: yes(query.recursive) });
      return { status: 200, body: { path: query.path, deleted: true } };
    },
  }),
];
