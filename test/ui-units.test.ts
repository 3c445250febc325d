/**
 * The dashboard's pure parts, without I/O: the escaping template tag,
 * formatting (durations, TTL left, credits spent so far), the spend chart's
 * days, the newest-seq search, and the CSRF comparison. Sessions, which
 * live in the store: test/ui-sessions.test.ts.
 */
import { describe, expect, it } from "vitest";
import type { Sandbox, SandboxEvent } from "../src/types.js";
import { barChart, spendPerDay } from "../src/ui/chart.js";
import { duration, money, spentSoFar, stateTone, ttlLeft } from "../src/ui/format.js";
import { html, jsonText, raw } from "../src/ui/html.js";
import { health } from "../src/ui/pages/hosts.js";
import { readableLog } from "../src/ui/pages/sandbox.js";
import { matches, parseTableQuery } from "../src/ui/pages/sandboxes.js";
import { SeqTracker } from "../src/ui/seq.js";
import { sameSecret } from "../src/ui/session.js";

describe("html", () => {
  it("escapes every interpolated string, attribute-safe; nests Html and arrays; drops null/false", () => {
    const evil = `"><script>alert('x')</script>&`;
    expect(html`<a title="${evil}">${evil}</a>`.value).toBe(
      `<a title="&quot;&gt;&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;">&quot;&gt;&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;</a>`,
    );
    expect(html`<ul>${["a<", "b"].map((x) => html`<li>${x}</li>`)}</ul>`.value).toBe("<ul><li>a&lt;</li><li>b</li></ul>");
    expect(html`${null}${undefined}${false}${0}${raw("<b>")}`.value).toBe("0<b>");
    expect(jsonText({ a: "</script>" })).toBe('{"a":"\\u003c/script>"}');
  });
});

describe("formatting", () => {
  it("durations: two units at most", () => {
    expect([0, 59_000, 60_000, 3_599_000, 3_600_000, 5_400_000, 47 * 3_600_000, 49 * 3_600_000, 72 * 3_600_000].map(duration)).toEqual([
      "0s",
      "59s",
      "1m",
      "59m",
      "1h",
      "1h 30m",
      "47h",
      "2d 1h",
      "3d",
    ]);
  });

  const now = new Date("2026-01-01T12:00:00Z");
  const sb = (o: Partial<Sandbox>): Sandbox =>
    ({ state: "ready", readyAt: "2026-01-01T11:00:00Z", expiresAt: "2026-01-01T13:00:00Z", destroyedAt: null, cost: null, ...o }) as Sandbox;

  it("TTL left: time to expiry, 'expired' once past, '-' when closed or without a TTL", () => {
    expect(ttlLeft(sb({}), now)).toBe("1h");
    expect(ttlLeft(sb({ expiresAt: "2026-01-01T11:59:00Z" }), now)).toBe("expired");
    expect(ttlLeft(sb({ state: "destroyed" }), now)).toBe("-");
    expect(ttlLeft(sb({ expiresAt: null }), now)).toBe("-");
  });

  it("credits spent so far: settled when closed; price x time since ready, capped at the reservation, when live", () => {
    expect(spentSoFar(sb({ cost: { pricePerHour: 2, reserved: 4, settled: 0 } }), now)).toBe(2);
    expect(spentSoFar(sb({ cost: { pricePerHour: 10, reserved: 4, settled: 0 } }), now)).toBe(4);
    expect(spentSoFar(sb({ state: "destroyed", cost: { pricePerHour: 2, reserved: 4, settled: 1.5 } }), now)).toBe(1.5);
    expect(spentSoFar(sb({ state: "provisioning", readyAt: null, cost: { pricePerHour: 2, reserved: 4 } }), now)).toBe(0);
    expect(spentSoFar(sb({ cost: null }), now)).toBe(0);
    expect([money(0), money(0.00027), money(2.5), money(1234.5)]).toEqual(["0", "0.0003", "2.5", "1234.5"]);
  });

  it("state colours", () => {
    expect(["ready", "provisioning", "destroying", "failed", "destroy_failed", "destroyed"].map(stateTone)).toEqual([
      "ok",
      "busy",
      "busy",
      "bad",
      "bad",
      "off",
    ]);
  });

  it("host health from the last canary", () => {
    expect(health(null).text).toBe("no canary");
    expect(health(sb({})).tone).toBe("ok");
    expect(health(sb({ state: "failed", readyAt: null, error: { code: "SBX_HOST_UNREACHABLE", message: "" } }))).toEqual({
      tone: "bad",
      text: "SBX_HOST_UNREACHABLE",
    });
  });

  it("Packer's machine-readable log reads as lines of text", () => {
    expect(readableLog("1796159523,,ui,say,==> a%!(PACKER_COMMA) b\n1796159528,null.basic,artifact,0,id,Null\nplain")).toBe(
      `${new Date(1796159523000).toISOString().slice(11, 19)}  ==> a, b\n${new Date(1796159528000).toISOString().slice(11, 19)}  [null.basic] artifact: 0 id Null\nplain`,
    );
  });
});

describe("spend chart", () => {
  it("sums debits per UTC day over the window, zero days included; other kinds and older days ignored", () => {
    const today = new Date("2026-03-10T15:00:00Z");
    const pts = spendPerDay(
      [
        { kind: "debit", amount: 1.5, at: "2026-03-10T01:00:00Z" },
        { kind: "debit", amount: 0.5, at: "2026-03-10T23:00:00Z" },
        { kind: "reserve", amount: 9, at: "2026-03-09T01:00:00Z" },
        { kind: "debit", amount: 2, at: "2026-03-08T01:00:00Z" },
        { kind: "debit", amount: 7, at: "2026-02-01T01:00:00Z" },
      ],
      today,
      3,
    );
    expect(pts).toEqual([
      { label: "2026-03-08", value: 2 },
      { label: "2026-03-09", value: 0 },
      { label: "2026-03-10", value: 2 },
    ]);
    const svg = barChart(pts, { title: "spend" }).value;
    expect(svg.match(/<rect /g)).toHaveLength(3);
    expect(svg).toContain('aria-label="spend: 4 credits over 3 days, at most 2 in a day"');
  });
});

describe("table filters", () => {
  it("parse and match as the list query does; bad values name the field", () => {
    const q = parseTableQuery({ state: "ready,failed", profile: "profile.local", host: "" });
    expect(q.host).toBeUndefined();
    expect(matches({ state: "ready", profile: "profile.local", project: "p", extension: "ext.local", host: "h" } as Sandbox, q)).toBe(true);
    expect(matches({ state: "destroyed", profile: "profile.local" } as Sandbox, q)).toBe(false);
    expect(matches({ state: "destroyed", profile: "profile.local" } as Sandbox, parseTableQuery({}))).toBe(false);
    expect(matches({ state: "destroyed", profile: "profile.local" } as Sandbox, parseTableQuery({ state: "all" }))).toBe(true);
    expect(() => parseTableQuery({ state: "running" })).toThrow(/state:/);
    expect(() => parseTableQuery({ host: "../etc" })).toThrow(/host: not a name/);
    expect(() => parseTableQuery({ limit: "100000" })).toThrow();
  });
});

describe("newest event seq", () => {
  const log = (seqs: number[]) => {
    let calls = 0;
    const fn = ({ afterSeq, limit }: { afterSeq: number; limit: number }) => {
      calls++;
      return seqs
        .filter((s) => s > afterSeq)
        .slice(0, limit)
        .map((seq) => ({ seq }) as SandboxEvent);
    };
    return { fn, calls: () => calls };
  };

  it("finds the last seq across gaps; remembers it, so a quiet log costs one lookup", async () => {
    const seqs = [...Array.from({ length: 50_000 }, (_, i) => i + 1), 50_007, 50_100];
    const l = log(seqs);
    const t = new SeqTracker(l.fn);
    expect(await t.latest()).toBe(50_100);
    expect(l.calls()).toBeLessThan(60);
    const before = l.calls();
    expect(await t.latest()).toBe(50_100);
    expect(l.calls() - before).toBe(1);
    seqs.push(50_101, 50_500);
    expect(await t.latest()).toBe(50_500);
    expect(await new SeqTracker(log([]).fn).latest()).toBe(0);
  });
});

describe("CSRF values", () => {
  it("CSRF values compare in constant time and never match empty", () => {
    expect(sameSecret("abc", "abc")).toBe(true);
    expect(sameSecret("abc", "abd")).toBe(false);
    expect(sameSecret("abc", "abcd")).toBe(false);
    expect(sameSecret("", "")).toBe(false);
    expect(sameSecret(undefined, "x")).toBe(false);
  });
});
