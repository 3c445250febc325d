/**
 * What stands in for a kubelet: each pod is a real long-lived process (its
 * "container") started in a directory of its own, where `pods/exec` runs
 * commands. When the process dies the pod is reported failed.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";

interface Running {
  dir: string;
  child: ChildProcess;
  stopping: boolean;
}

export class PodRuntime {
  private readonly pods = new Map<string, Running>();

  constructor(
    private readonly root: string,
    /** Called when a pod's process exits without being stopped (killed behind our back, crashed). */
    private readonly onDied: (ns: string, name: string, code: number | null) => void,
  ) {}

  /** Start the pod's process in a fresh directory; returns the directory. */
  start(ns: string, name: string): string {
    const dir = join(this.root, ns, name);
    mkdirSync(dir, { recursive: true });
    const child = spawn("sleep", ["infinity"], { cwd: dir, stdio: "ignore" });
    const entry: Running = { dir, child, stopping: false };
    this.pods.set(`${ns}/${name}`, entry);
    child.on("exit", (code) => {
      if (this.pods.get(`${ns}/${name}`) !== entry) return;
      this.pods.delete(`${ns}/${name}`);
      if (!entry.stopping) this.onDied(ns, name, code);
    });
    return dir;
  }

  dirOf(ns: string, name: string): string | undefined {
    return this.pods.get(`${ns}/${name}`)?.dir;
  }

  /** Kill the process as a node failure would (the controller then sees the pod fail). */
  kill(ns: string, name: string): boolean {
    return this.pods.get(`${ns}/${name}`)?.child.kill("SIGKILL") ?? false;
  }

  stop(ns: string, name: string): void {
    const entry = this.pods.get(`${ns}/${name}`);
    if (!entry) return;
    entry.stopping = true;
    this.pods.delete(`${ns}/${name}`);
    entry.child.kill("SIGKILL");
    rmSync(entry.dir, { recursive: true, force: true });
  }

  get count(): number {
    return this.pods.size;
  }

  stopAll(): void {
    for (const k of [...this.pods.keys()]) {
      const [ns, name] = k.split("/") as [string, string];
      this.stop(ns, name);
    }
  }
}
