/**
 * A restore's stack comes from the snapshot: the compose file is found and read
 * in the archive (unpacked privately on this machine, see policy-archive.ts), so a
 * restore needs no local repo (not even the one the snapshot was made from).
 */
import { lstatSync, readFileSync } from "node:fs";
import { basename, isAbsolute, join } from "node:path";
import { SandboxerError } from "../../errors.js";
import { COMPOSE_NAMES, servicesIn } from "./compose.js";

/** The names to look for: the compose_file input (its base name when it was a lone local file), else the standard ones. */
export function restoreCandidates(input: { compose_file?: string | undefined }): string[] {
  if (!input.compose_file) return COMPOSE_NAMES;
  return [isAbsolute(input.compose_file) || input.compose_file.startsWith("~") ? basename(input.compose_file) : input.compose_file];
}

/** The first candidate that is a regular file (not a link) in the unpacked workspace `dir`, and the services it starts. */
export function composeInRestored(dir: string, input: { compose_file?: string | undefined }): { file: string; services: string[] } {
  const names = restoreCandidates(input);
  for (const file of names) {
    let regular = false;
    try {
      regular = lstatSync(join(dir, file)).isFile();
    } catch {
      // absent: try the next name
    }
    if (regular) return { file, services: servicesIn(readFileSync(join(dir, file), "utf8"), file) };
  }
  throw new SandboxerError(
    "SBX_INPUT_INVALID",
    `input 'compose_file': the snapshot's workspace has no compose file (${names.join(", ")}); name it with --input compose_file=NAME`,
    { details: { field: "compose_file" } },
  );
}
