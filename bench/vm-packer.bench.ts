/**
 * ext.vm-packer against the raw tools it wraps. Prints medians and ratios; asserts nothing.
 *   attach: ssh mkdir + rsync + ssh rm (what the legacy shim did)  -> create(ready) + destroy
 *   build:  packer build -machine-readable                        -> create(ready) (validate + build)
 */
import { execFileSync } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startLoopbackVm } from "../test/fixtures/vm.js";

const N = Number(process.env.BENCH_N ?? 5);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;
const ms = (t0: bigint) => Number(process.hrtime.bigint() - t0) / 1e6;
const work = mkdtempSync(join(tmpdir(), "sbx-bench-vm-"));

function repo(): string {
  const dir = join(work, "repo");
  mkdirSync(join(dir, "src"), { recursive: true });
  for (let i = 0; i < 50; i++) writeFileSync(join(dir, "src", `M${i}.hs`), `module M${i} where\nx = ${i}\n`.repeat(20));
  return dir;
}

async function main(): Promise<void> {
  const vm = await startLoopbackVm({ alias: "sbx-bench-vm" });
  const src = repo();
  const ssh = ["ssh", "-F", vm.sshd.configFile, vm.alias];
  try {
    const rawAttach: number[] = [];
    const attach: number[] = [];
    const broker = vm.home.broker();
    await broker.destroy((await broker.create({ profile: "profile.vm-haskell-build", inputs: { vm: vm.alias, repo: src } })).id);
    for (let i = 0; i < N; i++) {
      const dir = join(vm.root, `raw-${i}`);
      let t0 = process.hrtime.bigint();
      execFileSync(ssh[0] as string, [...ssh.slice(1), "mkdir", "-p", dir]);
      execFileSync("rsync", ["-a", "-e", `ssh -F ${vm.sshd.configFile}`, `${src}/`, `${vm.alias}:${dir}/`]);
      execFileSync(ssh[0] as string, [...ssh.slice(1), "rm", "-rf", dir]);
      rawAttach.push(ms(t0));
      t0 = process.hrtime.bigint();
      const sb = await broker.create({ profile: "profile.vm-haskell-build", inputs: { vm: vm.alias, repo: src } });
      await broker.destroy(sb.id);
      attach.push(ms(t0));
    }

    const rawBuild: number[] = [];
    const build: number[] = [];
    for (let i = 0; i < N; i++) {
      const a = join(work, `raw-tpl-${i}`);
      const b = join(work, `tpl-${i}`);
      cpSync(join(import.meta.dirname, "..", "test", "fixtures", "packer", "ok"), a, { recursive: true });
      cpSync(join(import.meta.dirname, "..", "test", "fixtures", "packer", "ok"), b, { recursive: true });
      let t0 = process.hrtime.bigint();
      execFileSync("packer", ["build", "-machine-readable", "-var", "vm_name=bench", "."], { cwd: a, stdio: "ignore" });
      rawBuild.push(ms(t0));
      t0 = process.hrtime.bigint();
      await broker.create({ profile: "profile.vm-packer-build", inputs: { packer_template: b, vm_name: "bench" } });
      build.push(ms(t0));
    }
    await broker.close();
    const summary = {
      n: N,
      attachRawMs: median(rawAttach),
      attachCycleMs: median(attach),
      attachRatio: median(attach) / median(rawAttach),
      buildRawMs: median(rawBuild),
      buildMs: median(build),
      buildRatio: median(build) / median(rawBuild),
    };
    const f = (x: number) => x.toFixed(0);
    console.log(
      `attach: raw ssh+rsync+rm ${f(summary.attachRawMs)} ms, sandboxer create+destroy ${f(summary.attachCycleMs)} ms, ratio ${summary.attachRatio.toFixed(2)}x (median of ${N})`,
    );
    console.log(
      `build:  raw packer build ${f(summary.buildRawMs)} ms, sandboxer create (validate+build) ${f(summary.buildMs)} ms, ratio ${summary.buildRatio.toFixed(2)}x (median of ${N})`,
    );
    if (process.env.BENCH_OUT) writeFileSync(process.env.BENCH_OUT, JSON.stringify(summary, null, 2));
  } finally {
    await vm.home.cleanup();
    await vm.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

await main();
