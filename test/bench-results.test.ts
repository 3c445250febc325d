/**
 * bench/RESULTS.md is the one place for benchmark figures: each bench's
 * printed rows under its date and machine; a partial run replaces only its
 * own sections.
 */
import { describe, expect, it } from "vitest";
import { type BenchRun, mergeResults, parseSections } from "../bench/results.js";

const machine = { cpu: "Test CPU @ 2.0GHz", cores: 2, memoryGiB: 24, loadBefore: 1.5, loadAfter: 2.25 };
const run = (file: string, lines: string[], at = "2026-01-02T03:04:05.000Z"): BenchRun => ({ file, at, status: "ok", machine, lines });

describe("bench/RESULTS.md", () => {
  it("holds each bench's rows verbatim with the date, cpu model, cores and load", () => {
    const md = mergeResults("", [run("core.bench.ts", ["raw bwrap spawn   20.7 ms", "ratio 1.50x (target <= 2)", ""])]);
    expect(md).toMatch(/^# Benchmark results/);
    expect(md).toContain(
      "## core.bench.ts\n\n2026-01-02T03:04:05.000Z · ok · Test CPU @ 2.0GHz, 2 cores, 24 GiB · load 1.50 before, 2.25 after\n\n```\nraw bwrap spawn   20.7 ms\nratio 1.50x (target <= 2)\n\n```",
    );
  });

  it("a run of some benches keeps the others' sections, in file order", () => {
    const first = mergeResults("", [run("routing.bench.ts", ["decideRoute 10 µs"]), run("api.bench.ts", ["1412 req/s"])]);
    const second = mergeResults(first, [
      run("routing.bench.ts", ["decideRoute 12 µs"], "2026-02-01T00:00:00.000Z"),
      run("new-thing.bench.ts", ["a new bench's row"]),
    ]);
    const sections = parseSections(second);
    expect([...sections.keys()]).toEqual(["api.bench.ts", "new-thing.bench.ts", "routing.bench.ts"]);
    expect(sections.get("api.bench.ts")).toContain("1412 req/s");
    expect(sections.get("routing.bench.ts")).toContain("decideRoute 12 µs");
    expect(second).not.toContain("decideRoute 10 µs");
    expect(mergeResults(second, [])).toBe(second);
  });
});
