/**
 * Files for metered vendors, from three calls every vendor SDK has: run a
 * command (its exec), put bytes at a path and get them back (its file API).
 * With those the fixed scripts of src/sandbox-shell/ (the same ones local,
 * compose and VM sandboxes run) work inside a vendor's sandbox: a script's
 * stdin is uploaded to a temp file in the sandbox first, its stdout written
 * to one and downloaded after. So bytes travel through the vendor's file
 * endpoints, streamed both ways, and an upload that fails or passes the limit
 * never reaches the script: nothing half written.
 */
import { randomBytes } from "node:crypto";
import { PassThrough, type Readable, type Writable } from "node:stream";
import type { Handle } from "../../types.js";
import * as shell from "../../sandbox-shell/files.js";
import type { SandboxRunner } from "../../sandbox-shell/files.js";
import { FAILED } from "../../sandbox-shell/file-scripts.js";
import type { ExtensionContext, FileOps } from "../define.js";

/** A command's result with its output kept (small: listings, states). */
export interface RunOutput {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/** What a vendor gives for files and processes; each call opens and closes its own client. */
export interface VendorIo<H = Handle> {
  /** argv inside the sandbox, stdin closed, output kept. */
  run(ctx: ExtensionContext<H>, h: H, argv: string[]): Promise<RunOutput>;
  /** `src` to the file `path` in the sandbox (made or replaced), streamed. */
  upload(ctx: ExtensionContext<H>, h: H, path: string, src: Readable): Promise<void>;
  /** The file `path` from the sandbox into `out` (not ended here), streamed. */
  download(ctx: ExtensionContext<H>, h: H, path: string, out: Writable): Promise<void>;
}

/** Where the temp files of one script run go inside the sandbox. */
const ioName = () => `/tmp/.sandboxer-io-${randomBytes(8).toString("hex")}`;

/** `$1` stdin file or "", `$2` stdout file or "", then the command; the stdin file is removed after. */
const WITH_FILES = [
  'i=$1; o=$2; shift 2; [ -n "$i" ] || i=/dev/null; [ -n "$o" ] || o=/dev/null',
  '"$@" <"$i" >"$o"; rc=$?',
  '[ "$i" = /dev/null ] || rm -f -- "$i"',
  "exit $rc",
].join("\n");

/**
 * The source as a stream that always ends normally: a source that fails (over
 * the limit, the client gone) just ends early. Vendor SDKs handle a failing
 * request body badly (one retries a consumed body, one never ends the
 * request); the caller learns of the failure from its source and discards
 * what the shorter upload staged.
 */
function cutCleanly(src: Readable): Readable {
  const body = new PassThrough();
  const stop = () => {
    src.unpipe(body);
    if (!body.writableEnded) body.end();
  };
  src.once("error", stop);
  src.once("close", stop);
  src.pipe(body);
  return body;
}

export function vendorRunner<H>(io: VendorIo<H>, ctx: ExtensionContext<H>, h: H): SandboxRunner {
  return {
    sandboxId: ctx.sandbox.id,
    root: null,
    async stream(argv, opts) {
      const base = ioName();
      const input = opts.stdin ? `${base}.in` : "";
      const output = opts.stdout ? `${base}.out` : "";
      const clean = (...files: string[]) => io.run(ctx, h, ["rm", "-f", "--", ...files]).catch(() => undefined);
      if (opts.stdin) {
        try {
          await io.upload(ctx, h, input, cutCleanly(opts.stdin));
        } catch (err) {
          // The script never runs, so nothing is staged; the caller learns why from its source
          // (over the limit, the client gone) or from this answer.
          await clean(input);
          return { code: FAILED, signal: null, stdout: "", stderr: `uploading to the sandbox failed: ${(err as Error)?.message ?? String(err)}` };
        }
      }
      const r = await io.run(ctx, h, ["sh", "-c", WITH_FILES, "sh", input, output, ...argv]).catch(async (err: unknown) => {
        await clean(...[input, output].filter(Boolean));
        throw err;
      });
      if (opts.stdout) {
        try {
          await io.download(ctx, h, output, opts.stdout);
        } finally {
          await clean(output);
        }
      }
      return { code: r.exitCode, signal: null, stdout: "", stderr: r.stderr };
    },
  };
}

/** FileOps for a vendor: the shared file scripts over `vendorRunner`. */
export function vendorFiles<H>(io: VendorIo<H>): FileOps<H> {
  const r = (ctx: ExtensionContext<H>, h: H) => vendorRunner(io, ctx, h);
  return {
    putArchive: (ctx, h, dest, tar) => shell.putArchive(r(ctx, h), dest, tar),
    getArchive: (ctx, h, path, out) => shell.getArchive(r(ctx, h), path, out),
    writeFile: async (ctx, h, path, data, mode) => {
      await shell.writeFile(r(ctx, h), path, data, mode);
    },
    readFile: (ctx, h, path, out, max) => shell.readFile(r(ctx, h), path, out, max),
    list: (ctx, h, path, limit) => shell.list(r(ctx, h), path, limit),
    stat: (ctx, h, path) => shell.stat(r(ctx, h), path),
    remove: (ctx, h, path, recursive) => shell.remove(r(ctx, h), path, recursive),
  };
}
