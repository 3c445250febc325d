/**
 * podman-compose 1.0 `up -d` exits 0 even when a container could not start
 * (a published port already in use, a missing device): it echoes each podman
 * command on stdout followed by `exit code: N`, tries `podman start` after a
 * failed `run`, and leaves the container `created`. Read that transcript, so
 * the create fails at once with the engine's own words instead of waiting
 * out the profile timeout. (docker compose exits non-zero itself.)
 */
export interface FailedStart {
  /** The container name podman-compose gave it (`<project>_<service>_<n>`). */
  container: string;
  exitCode: number;
}

const COMMAND_RE = /^(?:\[')?podman'?,? '?(run|start|create)'?,? (.*)$/;

/** Containers whose last run/start attempt in the transcript exited non-zero. */
export function failedStarts(stdout: string): FailedStart[] {
  const last = new Map<string, number>();
  let current: string | null = null;
  for (const line of stdout.split("\n")) {
    const cmd = COMMAND_RE.exec(line.trim());
    if (cmd) {
      const rest = cmd[2] ?? "";
      current =
        cmd[1] === "start" ? (rest.split(/[\s',\]]+/).filter((w) => w && !w.startsWith("-"))[0] ?? null) : (/--name[= ]'?([^\s',]+)/.exec(rest)?.[1] ?? null);
      continue;
    }
    const code = /^exit code: (-?\d+)$/.exec(line.trim());
    if (code && current) {
      last.set(current, Number(code[1]));
      current = null;
    }
  }
  return [...last].filter(([, c]) => c !== 0).map(([container, exitCode]) => ({ container, exitCode }));
}

/** The engine's own error lines (`Error: ...`), deduplicated, in order. */
export function engineErrors(stderr: string): string[] {
  const seen = new Set<string>();
  for (const line of stderr.split("\n")) {
    const t = line.trim();
    if (/^(Error|error)[: ]/.test(t)) seen.add(t);
  }
  return [...seen];
}
