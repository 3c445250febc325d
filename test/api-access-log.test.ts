import { describe, expect, it } from "vitest";
import { batchedLog, requestIds } from "../src/api/access-log.js";

describe("access log sink", () => {
  it("writes the lines of one event-loop turn in one write, in order", async () => {
    const writes: string[] = [];
    const sink = batchedLog((t) => writes.push(t));
    sink.log("a");
    sink.log("b");
    sink.log("c");
    expect(writes).toEqual([]);
    await new Promise((r) => setImmediate(r));
    expect(writes).toEqual(["a\nb\nc\n"]);
    sink.log("d");
    sink.flush();
    expect(writes).toEqual(["a\nb\nc\n", "d\n"]);
    await new Promise((r) => setImmediate(r));
    expect(writes).toHaveLength(2);
  });

  it("writes at once when the pending lines pass the cap", () => {
    const writes: string[] = [];
    const sink = batchedLog((t) => writes.push(t), 10);
    sink.log("12345");
    sink.log("67890");
    expect(writes).toEqual(["12345\n67890\n"]);
  });

  it("request ids are unique per server and fit the X-Request-Id pattern", () => {
    const next = requestIds();
    const ids = Array.from({ length: 1000 }, next);
    expect(new Set(ids).size).toBe(1000);
    for (const id of ids) expect(id).toMatch(/^[0-9a-f]{16}$/);
  });
});
