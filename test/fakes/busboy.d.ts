/** The few types of `busboy` (a dependency of @daytonaio/sdk) that the Daytona fake uses. */
declare module "busboy" {
  import type { IncomingHttpHeaders } from "node:http";
  import type { Readable, Writable } from "node:stream";
  interface Busboy extends Writable {
    on(event: "field", cb: (name: string, value: string) => void): this;
    on(event: "file", cb: (name: string, file: Readable, info: { filename: string }) => void): this;
    on(event: "close", cb: () => void): this;
    on(event: "error", cb: (err: Error) => void): this;
  }
  export default function busboy(opts: { headers: IncomingHttpHeaders; preservePath?: boolean; limits?: { fileSize?: number } }): Busboy;
}
