/**
 * Bytes to and from an E2B sandbox through envd's file endpoints (the SDK's
 * `files.write` with a stream, sent as application/octet-stream, and
 * `files.read` as a stream): nothing is held whole on this side.
 */
import { Readable, type Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { ReadableStream as WebReadableStream } from "node:stream/web";
import type { E2bSdk } from "./exec.js";

type ConnOpts = NonNullable<Parameters<E2bSdk["Sandbox"]["connect"]>[1]>;

export async function upload(sdk: E2bSdk, sandboxId: string, conn: ConnOpts, path: string, src: Readable): Promise<void> {
  const sb = await sdk.Sandbox.connect(sandboxId, conn);
  // The SDK's request timeout would cut a long upload: the stream's own end (or failure) ends it.
  await sb.files.write(path, Readable.toWeb(src) as unknown as ReadableStream, { useOctetStream: true, requestTimeoutMs: 0 });
}

export async function download(sdk: E2bSdk, sandboxId: string, conn: ConnOpts, path: string, out: Writable): Promise<void> {
  const sb = await sdk.Sandbox.connect(sandboxId, conn);
  const body = await sb.files.read(path, { format: "stream" });
  await pipeline(Readable.fromWeb(body as unknown as WebReadableStream), out, { end: false });
}
