/**
 * Tenant isolation in the dashboard, tried as an attacker would: an agt token
 * of project p1 against project p2's sandbox, snapshot, ledger and events
 * (ids typed in, forged posts with a valid CSRF value, filters asking for
 * p2, the live stream), and what it is shown of its own records.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Sandbox } from "../src/types.js";
import type { ApiFixture } from "./helpers/api.js";
import { readSse, type UiSession, type UiWorld, uiWorld } from "./helpers/ui.js";

const MIN_SERVED = 15;
let w: UiWorld;
let fx: ApiFixture;
let adm: UiSession;
let p1: UiSession;
let mine: Sandbox;
let theirs: Sandbox;
let theirSnap: string;
const text = (r: Response | Promise<Response>) => w.text(r);

beforeAll(async () => {
  w = await uiWorld();
  ({ fx, adm, p1, mine, theirs, theirSnap } = w);
});

afterAll(async () => {
  await fx?.cleanup();
});

describe("tenant isolation (agt token of project p1)", () => {
  it("other projects' sandboxes never appear in the table, even when asked for", async () => {
    for (const path of ["/ui/sandboxes", "/ui/sandboxes?state=all", "/ui/sandboxes?project=p2", "/ui/fragments/sandboxes?state=all"]) {
      const page = await text(p1.get(path));
      expect(page, path).not.toContain(theirs.id);
      expect(page).not.toMatch(/>p2</);
    }
    expect(await text(p1.get("/ui/sandboxes"))).toContain(`row-${mine.id}`);
  });

  it("their pages and fragments are 404, the same as an unknown id", async () => {
    for (const path of [
      `/ui/sandboxes/${theirs.id}`,
      `/ui/sandboxes/${theirs.id}/fragments/record`,
      `/ui/sandboxes/${theirs.id}/fragments/progress`,
      `/ui/sandboxes/${theirs.id}/fragments/snapshots`,
      `/ui/sandboxes/${theirs.id}/fragments/state`,
      `/ui/sandboxes/${theirs.id}/fragments/all`,
      `/ui/sandboxes/${theirs.id}/destroy`,
      `/ui/stream?view=sandbox&sandbox=${theirs.id}`,
    ]) {
      const r = await p1.get(path);
      expect(r.status, path).toBe(404);
      const body = await text(r);
      expect(body).not.toContain("profile.local v");
      expect(body.replace(theirs.id, "ID")).toBe((await text(p1.get(path.replace(theirs.id, "sbx-aaaaaaaaaaaa")))).replace("sbx-aaaaaaaaaaaa", "ID"));
    }
  });

  it("actions on their sandbox are refused and change nothing", async () => {
    const before = await fx.broker.get(theirs.id);
    for (const [path, form] of [
      [`/ui/sandboxes/${theirs.id}/destroy`, {}],
      [`/ui/sandboxes/${theirs.id}/ttl`, { duration: "1h" }],
      [`/ui/sandboxes/${theirs.id}/snapshot`, { name: "stolen" }],
    ] as const) {
      expect((await p1.post(path, form)).status, path).toBe(404);
    }
    const after = await fx.broker.get(theirs.id);
    expect(after.state).toBe("ready");
    expect(after.expiresAt).toBe(before.expiresAt);
    expect((await fx.broker.snapshots({ sandboxId: theirs.id })).map((s) => s.name)).toEqual(["p2-secret-snap"]);
  });

  it("their own records, events and snapshots come without server paths (the API's tenancy view)", async () => {
    const home = fx.home.env.SANDBOXER_HOME as string;
    expect(await text(adm.get(`/ui/sandboxes/${mine.id}`))).toContain(home);
    for (const path of [`/ui/sandboxes/${mine.id}`, `/ui/sandboxes/${mine.id}/fragments/all`, "/ui/events", "/ui/snapshots", "/ui/hosts"]) {
      const page = await text(p1.get(path));
      expect(page, path).not.toContain(home);
      expect(page, path).not.toContain(fx.home.dir);
    }
    const stream = await readSse(await p1.get(`/ui/stream?view=sandbox&sandbox=${mine.id}&after=0`), (t) => t.includes("event: sandbox"));
    expect(stream).toContain("sandbox.ready");
    expect(stream).not.toContain(home);
  });

  it("on its own sandbox the same actions work", async () => {
    const before = Date.parse((await fx.broker.get(mine.id)).expiresAt ?? "");
    const r = await p1.post(`/ui/sandboxes/${mine.id}/ttl`, { duration: "10m" });
    expect(r.status).toBe(303);
    expect(Date.parse((await fx.broker.get(mine.id)).expiresAt ?? "")).toBeGreaterThan(before);
    expect(await text(p1.get(`/ui/sandboxes/${mine.id}?done=ttl`))).toContain("TTL extended.");
  });

  it("operator-only pages are not there for tenants", async () => {
    expect((await p1.get("/ui/hosts/stale")).status).toBe(404);
    expect((await p1.post("/ui/hosts/stale/apply")).status).toBe(404);
    const hosts = await text(p1.get("/ui/hosts"));
    expect(hosts).not.toContain("/ui/hosts/stale");
  });

  it("snapshots, credits, the ledger export and events show their project only", async () => {
    const snaps = await text(p1.get("/ui/snapshots"));
    expect(snaps).not.toContain(theirSnap);
    expect(snaps).not.toContain("p2-secret-snap");
    const credits = await text(p1.get("/ui/credits"));
    expect(credits).toMatch(/>p1</);
    expect(credits).not.toMatch(/>p2</);
    const day = new Date(Date.now() - 86_400_000).toISOString().slice(0, 10);
    const lines = (await (await p1.get(`/ui/credits/export?since=${day}`)).text())
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { account: string });
    expect(lines.length).toBeGreaterThan(0);
    expect(new Set(lines.map((l) => l.account))).toEqual(new Set(["p1"]));
    const events = await text(p1.get("/ui/events"));
    expect(events).not.toContain(theirs.id);
    expect(events).toContain(mine.id);
  });

  it("the live stream never carries another project's rows or events", async () => {
    const table = await p1.get("/ui/stream?view=table&state=all&after=0");
    const all = await p1.get("/ui/stream?view=events&after=0");
    const other = await fx.broker.create({ profile: "profile.local", project: "p2" });
    const own = await fx.broker.create({ profile: "profile.local", project: "p1" });
    const tableText = await readSse(table, (t) => t.includes(own.id) && t.includes('data-state=\\"ready\\"'));
    const eventsText = await readSse(all, (t) => t.includes(own.id));
    for (const t of [tableText, eventsText]) {
      expect(t).toContain(own.id);
      expect(t).not.toContain(other.id);
      expect(t).not.toContain(theirs.id);
    }
    await fx.broker.destroy(other.id);
    await fx.broker.destroy(own.id);
  });
});

describe("no token in any HTML", () => {
  it("never: not the adm token, not a tenant's", () => {
    expect(w.served.length).toBeGreaterThan(MIN_SERVED);
    for (const body of w.served) {
      for (const token of Object.values(fx.tokens)) {
        expect(body).not.toContain(token);
        expect(body).not.toContain(token.slice(-43));
      }
    }
  });
});
