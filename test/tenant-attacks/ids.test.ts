/**
 * Another project's ids: p1 tries every route on p2's sandbox and snapshot.
 * Each answers 404, exactly as for an id that does not exist, and changes
 * nothing (p2's sandbox stays ready with its TTL, no record or file appears).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Sandbox } from "../../src/types.js";
import { type AttackEnv, attackEnv } from "./env.js";

let env: AttackEnv;
let theirs: Sandbox;
let theirSnap: string;

beforeAll(async () => {
  env = await attackEnv();
  const b = await env.call("POST", "/v1/sandboxes", { token: env.tokens.p2, body: { profile: "profile.local" } });
  expect(b.status, b.text).toBe(201);
  theirs = b.body as unknown as Sandbox;
  const s = await env.call("POST", `/v1/sandboxes/${theirs.id}/snapshots`, { token: env.tokens.p2, body: { name: "p2-snap" } });
  expect(s.status, s.text).toBe(201);
  theirSnap = String(s.body.id);
}, 120_000);

afterAll(async () => {
  await env?.close();
});

describe("another project's sandbox and snapshot ids", () => {
  it("get, exec, destroy, recreate, extend-ttl, snapshot, events, restore, snapshot get/delete: 404 like an unknown id, nothing changes", async () => {
    const before = await env.footprint();
    const expires = (await env.broker.get(theirs.id)).expiresAt;
    const tries: [string, string, unknown?][] = [
      ["GET", `/v1/sandboxes/${theirs.id}`],
      ["POST", `/v1/sandboxes/${theirs.id}/exec`, { command: ["cat", "/etc/hostname"] }],
      ["DELETE", `/v1/sandboxes/${theirs.id}`],
      ["POST", `/v1/sandboxes/${theirs.id}/recreate`, {}],
      ["POST", `/v1/sandboxes/${theirs.id}/ttl`, { duration: "1h" }],
      ["POST", `/v1/sandboxes/${theirs.id}/snapshots`, { name: "mine-now" }],
      ["GET", `/v1/events?format=json&sandbox=${theirs.id}`],
      ["GET", `/v1/snapshots/${theirSnap}`],
      ["POST", `/v1/snapshots/${theirSnap}/restore`, {}],
      ["POST", `/v1/snapshots/${theirSnap}/restore`, { project: "p1" }],
      ["DELETE", `/v1/snapshots/${theirSnap}`],
    ];
    for (const [method, path, body] of tries) {
      const r = await env.call(method, path, { token: env.tokens.p1, body });
      const unknown = await env.call(method, path.replace(theirs.id, "sbx-aaaaaaaaaaaa").replace(theirSnap, "snap-aaaaaaaaaaaa"), {
        token: env.tokens.p1,
        body,
      });
      expect(r.status, `${method} ${path}: ${r.text}`).toBe(404);
      expect(r.body.error?.code).toBe("SBX_NOT_FOUND");
      expect(unknown.status).toBe(404);
    }
    expect(await env.footprint()).toBe(before);
    const after = await env.broker.get(theirs.id);
    expect([after.state, after.expiresAt]).toEqual(["ready", expires]);
    expect((await env.broker.getSnapshot(theirSnap)).id).toBe(theirSnap);
  });

  it("lists never show them, even when asked for p2's project", async () => {
    for (const path of ["/v1/sandboxes?all=true", "/v1/sandboxes?project=p2", "/v1/snapshots", "/v1/snapshots?project=p2", "/v1/events?format=json"]) {
      const r = await env.call("GET", path, { token: env.tokens.p1 });
      expect(r.status).toBe(200);
      expect(r.text).not.toContain(theirs.id);
      expect(r.text).not.toContain(theirSnap);
    }
  });

  it("the broker itself refuses a tenant caller's restore or recreate of another project's ids (the second lock)", async () => {
    const p1 = { actor: "agt" as const, project: "p1" };
    await expect(env.broker.restore(theirSnap, { caller: p1, project: "p1" })).rejects.toMatchObject({ code: "SBX_NOT_FOUND" });
    await expect(env.broker.recreate(theirs.id, { caller: p1 })).rejects.toMatchObject({ code: "SBX_NOT_FOUND" });
    expect((await env.broker.get(theirs.id)).state).toBe("ready");
  });

  it("p2 itself may still use them", async () => {
    const r = await env.call("POST", `/v1/snapshots/${theirSnap}/restore`, { token: env.tokens.p2, body: {} });
    expect(r.status, r.text).toBe(201);
    expect(r.body.project).toBe("p2");
  });
});
