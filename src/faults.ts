/**
 * Named crash points for the kill -9 tests: when SANDBOXER_CRASH_AT names a
 * point, the process SIGKILLs itself there, exactly as an operator's kill -9
 * or an OOM kill would, so `reconcile` is tested against real half-done work.
 * Costs one env lookup per point when unset.
 */
export function crashPoint(name: string): void {
  if (process.env.SANDBOXER_CRASH_AT === name) process.kill(process.pid, "SIGKILL");
}
