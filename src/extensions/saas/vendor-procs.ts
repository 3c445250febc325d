/**
 * Detached processes for metered vendors, kept inside the vendor's sandbox by
 * fixed POSIX sh scripts run through its exec (values as positional
 * arguments, never spliced into the script). Each process has a directory
 * under /tmp/.sandboxer/procs: its process group's pid (sandbox-shell/group.ts,
 * so kill reaches everything it started), its output in a ring of two
 * numbered segments of `ringBytes` each (`head -c` cuts the stream; the older
 * segment goes when a third starts), and its exit code and end time once it
 * ends. It runs on whether or not anyone on this side still listens, and
 * ends with the sandbox. Why not the vendors' own background commands: E2B's
 * keep no output for a client that comes back later, Modal's JS SDK cannot
 * reattach to an exec, and Daytona's would make this one backend differ.
 */
import { DEFAULT_SCRATCH, GROUP_KILL, GROUP_RUN } from "../../sandbox-shell/group.js";
import type { ExtensionContext, ProcessOps, RemoteProcessState } from "../define.js";
import type { VendorIo } from "./vendor-io.js";

const ROOT = `${DEFAULT_SCRATCH}/procs`;
const PGID = "pgid";

/** `$1` dir, `$2` ring bytes, `$3` group script, then argv: output into segments, exit recorded after the last byte. */
const BACKGROUND = [
  "d=$1; ring=$2; g=$3; shift 3",
  '{ sh -c "$g" sh "$d" pgid "$@" </dev/null 2>&1; echo $? > "$d/exit.tmp"; } | {',
  "  n=0",
  "  while :; do",
  '    head -c "$ring" > "$d/out.$n"',
  '    s=$(wc -c < "$d/out.$n")',
  '    [ "$s" -lt "$ring" ] && break',
  '    [ "$n" -gt 0 ] && rm -f -- "$d/out.$((n - 1))"',
  "    n=$((n + 1))",
  "  done",
  "}",
  'date -u +%Y-%m-%dT%H:%M:%SZ > "$d/ended"',
  'mv -f -- "$d/exit.tmp" "$d/exit"',
].join("\n");

/** `$1` dir, `$2` ring, `$3` cwd or "", `$4` background script, `$5` group script, then argv. */
const START = [
  "d=$1; ring=$2; cwd=$3; bg=$4; g=$5; shift 5",
  'mkdir -p -- "$d" && echo "$ring" > "$d/ring" || exit 1',
  'if [ -n "$cwd" ]; then cd -- "$cwd" || { echo "sandboxer: no directory $cwd" >&2; exit 127; }; fi',
  // Its own session, no stdio of the exec's: the vendor may end the exec's group when it returns.
  'if command -v setsid >/dev/null 2>&1; then setsid sh -c "$bg" sh "$d" "$ring" "$g" "$@" </dev/null >/dev/null 2>&1 &',
  'else nohup sh -c "$bg" sh "$d" "$ring" "$g" "$@" </dev/null >/dev/null 2>&1 & fi',
  'i=0; while [ ! -s "$d/pgid" ] && [ ! -f "$d/exit.tmp" ] && [ ! -f "$d/exit" ] && [ "$i" -lt 200 ]; do sleep 0.05; i=$((i + 1)); done',
].join("\n");

/** `st DIR` prints "running", "exited CODE ENDED" or "lost" (not there: "missing"). */
const STATE_FN = [
  "st() {",
  '  [ -d "$1" ] || { echo missing; return; }',
  "  for try in 1 2; do",
  '    if [ -f "$1/exit" ]; then c=; read -r c < "$1/exit"; e=; read -r e < "$1/ended" 2>/dev/null; [ -n "$c" ] || c=x; [ -n "$e" ] || e=x; echo "exited $c $e"; return; fi',
  '    [ -f "$1/exit.tmp" ] && { echo running; return; }',
  '    p=; read -r p < "$1/pgid" 2>/dev/null',
  '    if [ -n "$p" ] && { kill -0 -- "-$p" 2>/dev/null || kill -0 "$p" 2>/dev/null; }; then echo running; return; fi',
  // Between its end and the exit file there is a moment: look once more before calling it lost.
  "    sleep 0.3",
  "  done",
  "  echo lost",
  "}",
].join("\n");

/** `$1` root, then pids: one "PID STATE…" line each. */
const STATES = [STATE_FN, "r=$1; shift", 'for p; do echo "$p $(st "$r/$p")"; done'].join("\n");

/** `$1` dir, `$2` offset, `$3` max: "STATE…" line, "TOTAL FIRST FROM" line, then the bytes in base64 (exact, whatever they are). */
const OUTPUT = [
  STATE_FN,
  "d=$1; off=$2; max=$3",
  'state=$(st "$d"); echo "$state"; [ "$state" = missing ] && exit 0',
  'ring=; read -r ring < "$d/ring"; [ -n "$ring" ] || exit 1',
  "first=; last=",
  'for f in "$d"/out.*; do [ -e "$f" ] || continue; n=$(basename -- "$f"); n=$(expr "$n" : "out\\.\\([0-9]*\\)$")',
  '  [ -z "$first" ] || [ "$n" -lt "$first" ] && first=$n; [ -z "$last" ] || [ "$n" -gt "$last" ] && last=$n; done',
  '[ -n "$first" ] || { echo "0 0 0"; exit 0; }',
  'size=$(wc -c < "$d/out.$last"); total=$((last * ring + size)); start=$((first * ring))',
  '[ "$off" -lt "$start" ] && off=$start; [ "$off" -gt "$total" ] && off=$total',
  'echo "$total $start $off"',
  "k=$((off / ring)); skip=$((off - k * ring)); left=$max",
  '{ while [ "$left" -gt 0 ] && [ "$k" -le "$last" ] && [ -f "$d/out.$k" ]; do',
  '  have=$(( $(wc -c < "$d/out.$k") - skip )); [ "$have" -gt "$left" ] && have=$left',
  '  [ "$have" -gt 0 ] || break',
  '  tail -c +$((skip + 1)) "$d/out.$k" | head -c "$have"',
  "  left=$((left - have)); k=$((k + 1)); skip=0",
  "done; } | base64",
].join("\n");

function parseState(words: string[]): RemoteProcessState | null {
  const [kind, code, ended] = words;
  if (kind === "running") return { state: "running", exitCode: null, endedAt: null };
  if (kind === "lost") return { state: "lost", exitCode: null, endedAt: null };
  if (kind === "exited") return { state: "exited", exitCode: code && code !== "x" ? Number(code) : null, endedAt: ended && ended !== "x" ? ended : null };
  return null;
}

export function vendorProcesses<H>(io: VendorIo<H>): ProcessOps<H> {
  const sh = (ctx: ExtensionContext<H>, h: H, script: string, args: string[]) => io.run(ctx, h, ["sh", "-c", script, "sh", ...args]);
  const fail = (what: string, r: { exitCode: number; stderr: string }) =>
    Object.assign(new Error(`${what} failed (exit ${r.exitCode}): ${r.stderr.trim().slice(-300) || "no message"}`), { exitCode: r.exitCode });
  return {
    async start(ctx, h, pid, argv, opts) {
      const r = await sh(ctx, h, START, [`${ROOT}/${pid}`, String(opts.ringBytes), opts.cwd ?? "", BACKGROUND, GROUP_RUN, ...argv]);
      if (r.exitCode !== 0) throw fail(`starting ${pid}`, r);
    },
    async state(ctx, h, pids) {
      if (!pids.length) return {};
      const r = await sh(ctx, h, STATES, [ROOT, ...pids]);
      if (r.exitCode !== 0) throw fail("reading process states", r);
      const out: Record<string, RemoteProcessState> = {};
      for (const line of r.stdout.split("\n")) {
        const [pid, ...rest] = line.trim().split(" ");
        const s = parseState(rest);
        if (pid && pids.includes(pid) && s) out[pid] = s;
      }
      return out;
    },
    async output(ctx, h, pid, offset, maxBytes) {
      const r = await sh(ctx, h, OUTPUT, [`${ROOT}/${pid}`, String(offset), String(maxBytes)]);
      if (r.exitCode !== 0) throw fail(`reading the output of ${pid}`, r);
      const nl1 = r.stdout.indexOf("\n");
      const state = parseState(r.stdout.slice(0, nl1).split(" "));
      if (!state) return null;
      const nl2 = r.stdout.indexOf("\n", nl1 + 1);
      const [total, first, from] = r.stdout
        .slice(nl1 + 1, nl2)
        .split(" ")
        .map(Number) as [number, number, number];
      if (nl2 < 0) return { data: Buffer.alloc(0), offset, dropped: 0, total: 0, state };
      return {
        data: Buffer.from(r.stdout.slice(nl2 + 1).replace(/\s+/g, ""), "base64"),
        offset: from,
        dropped: Math.max(0, Math.min(first, total) - offset),
        total,
        state,
      };
    },
    async kill(ctx, h, pid, signal) {
      const r = await io.run(ctx, h, ["sh", "-c", GROUP_KILL, "sh", `${ROOT}/${pid}`, PGID, signal]);
      return r.exitCode === 0;
    },
  };
}
