/** The two ways a tool takes a command: a shell string (`sh -c`) or an argv run as is. */
import { z } from "zod";

export const commandFields = {
  command: z.string().min(1).max(65_536).optional().describe("a shell command line, run as `sh -c COMMAND` inside the sandbox (pipes, &&, globs work)"),
  argv: z.array(z.string().max(65_536)).min(1).max(256).optional().describe("instead of command: the program and its arguments, run without a shell"),
};

export const oneCommand = (a: { command?: string | undefined; argv?: string[] | undefined }) => (a.command === undefined) !== (a.argv === undefined);
export const ONE_COMMAND = { message: "give exactly one of command (a shell string) or argv (a list of strings)", path: ["command"] };

export function argvOf(a: { command?: string | undefined; argv?: string[] | undefined }): string[] {
  return a.argv ?? ["sh", "-c", a.command as string];
}
