/**
 * One place for the benchmark figures: bench/RESULTS.md, written by `make bench`.
 * Generic on purpose: a bench is any bench/*.bench.ts that prints its rows
 * (figures, ratios, targets) on stdout; those lines go into its section
 * verbatim, under the date and the machine it ran on. Running a subset
 * (`make bench ARGS=routing`) replaces only those sections.
 */
import { cpus, loadavg, totalmem } from "node:os";

export interface Machine {
  cpu: string;
  cores: number;
  memoryGiB: number;
  /** 1-minute load average before and after the bench ran. */
  loadBefore: number;
  loadAfter: number;
}

export interface BenchRun {
  file: string;
  /** ISO date-time the bench finished. */
  at: string;
  status: string;
  machine: Machine;
  /** What the bench printed: its rows. */
  lines: string[];
}

export function machineNow(loadBefore: number): Machine {
  const c = cpus();
  return { cpu: c[0]?.model.trim() ?? "unknown", cores: c.length, memoryGiB: Math.round(totalmem() / 2 ** 30), loadBefore, loadAfter: loadavg()[0] ?? 0 };
}

const HEADER = `# Benchmark results

Written by \`make bench\` (\`bench/run.ts\`): each section is what one \`bench/*.bench.ts\`
printed on its last run, with the date and the machine. Figures move with the
machine's load (the load average is given before and after each bench); the docs
link here instead of quoting numbers. Targets are stated in each bench's lines.
`;

export function renderSection(r: BenchRun): string {
  const m = r.machine;
  return [
    `## ${r.file}`,
    "",
    `${r.at} · ${r.status} · ${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB · load ${m.loadBefore.toFixed(2)} before, ${m.loadAfter.toFixed(2)} after`,
    "",
    "```",
    ...r.lines.map((l) => l.replace(/\s+$/, "")).filter((l, i, all) => l !== "" || (i > 0 && all[i - 1] !== "")),
    "```",
    "",
  ].join("\n");
}

/** Sections of an existing RESULTS.md by bench file name. */
export function parseSections(text: string): Map<string, string> {
  const out = new Map<string, string>();
  const parts = text.split(/^(?=## \S+\.bench\.ts$)/m).slice(1);
  for (const p of parts) {
    const name = /^## (\S+)$/m.exec(p)?.[1];
    if (name) out.set(name, `${p.trimEnd()}\n`);
  }
  return out;
}

/** The new file: sections of this run replace their old ones; the others stay, all in file-name order. */
export function mergeResults(previous: string, runs: readonly BenchRun[]): string {
  const sections = parseSections(previous);
  for (const r of runs) sections.set(r.file, renderSection(r));
  return [HEADER, ...[...sections.keys()].sort().map((k) => sections.get(k) as string)].join("\n");
}
