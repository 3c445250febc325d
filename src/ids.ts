import { randomBytes } from "node:crypto";

const BASE32 = "abcdefghijklmnopqrstuvwxyz234567";

/** `len` lowercase base32 characters from a random source (injectable for tests). */
export function base32(len: number, random: (n: number) => Uint8Array = randomBytes): string {
  const bytes = random(len);
  let out = "";
  for (let i = 0; i < len; i++) out += BASE32[(bytes[i] ?? 0) & 31];
  return out;
}

export type IdKind = "sbx" | "snap" | "evt" | "rsv" | "tok";
export type IdGen = (kind: IdKind) => string;

export const randomIds: IdGen = (kind) => `${kind}-${base32(kind === "evt" ? 20 : 12)}`;

export const SANDBOX_ID_RE = /^sbx-[a-z2-7]{12}$/;
export const SNAPSHOT_ID_RE = /^snap-[a-z2-7]{12}$/;
