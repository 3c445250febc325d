import { z } from "zod";
import { ErrorBody } from "./schemas.js";
import { type AnyRoute, COMMON_ERRORS, defineRoute } from "./spec.js";

/**
 * Warm pools (docs/pools.md), operators only: members are nobody's until a
 * create claims one, so no tenant sees a pool, its members or its counters.
 */
const inputs = z.record(z.string().max(64), z.union([z.string().max(4096), z.number(), z.boolean()]));
const asStrings = (v: Record<string, string | number | boolean> | undefined) =>
  v ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, String(x)])) : undefined;

export const PoolRecord = z.object({
  key: z.string().describe("profile id, with ?k=v&... for the shaping inputs of a pool set with --input"),
  profile: z.string(),
  inputs: z.record(z.string(), z.string()),
  size: z.number().int(),
  maxIdleSeconds: z.number().int(),
  source: z.enum(["profile", "set", "drained"]),
  ready: z.number().int().describe("warm members a create can claim now"),
  warming: z.number().int().describe("refill creates in flight"),
  claimed: z.number().int().describe("creates served by a member"),
  misses: z.number().int().describe("creates that found the pool empty and were created cold"),
  hitRate: z.number().nullable(),
  refillLagMs: z.object({ last: z.number(), mean: z.number(), samples: z.number().int() }).nullable(),
  shortSince: z.string().nullable(),
});
export const PoolList = z.object({ pools: z.array(PoolRecord) });
export const PoolSetBody = z.strictObject({
  profile: z.string().min(1).max(100),
  size: z.number().int().min(0).max(1000),
  maxIdle: z.string().min(1).max(20).optional().describe("duration such as 30m; default the profile's pool.maxIdle, else 30m"),
  inputs: inputs.optional().describe("shaping inputs of this pool's members (per-request inputs such as repo are refused)"),
});
export const PoolDrainBody = z.strictObject({
  profile: z.string().min(1).max(100),
  inputs: inputs.optional().describe("only the pool of these inputs; default every pool of the profile"),
});
export const DrainResult = z.object({
  pools: z.array(z.string()),
  destroyed: z.array(z.string()),
  errors: z.array(z.object({ id: z.string(), message: z.string() })),
});

const admOnly = { 403: { description: "operators (adm tokens) only", schema: ErrorBody } };

export const poolRoutes: AnyRoute[] = [
  defineRoute({
    method: "get",
    path: "/v1/pools",
    operationId: "listPools",
    summary: "Warm pools: size, ready, claimed, hit rate, refill lag (operators only)",
    tag: "pools",
    auth: "adm",
    responses: { 200: { description: "every pool", schema: PoolList }, ...COMMON_ERRORS, ...admOnly },
    handle: async ({ state }) => ({ status: 200, body: { pools: await state.broker.pools() } }),
  }),
  defineRoute({
    method: "post",
    path: "/v1/pools",
    operationId: "setPool",
    summary: "Set a pool's size (0 = off) for a profile and its shaping inputs, as `sandboxer pools set` (operators only)",
    tag: "pools",
    auth: "adm",
    body: PoolSetBody,
    responses: {
      200: { description: "the pool; refill follows in the background", schema: PoolRecord },
      ...COMMON_ERRORS,
      ...admOnly,
      404: { description: "no such profile", schema: ErrorBody },
    },
    handle: async ({ state, body }) => ({
      status: 200,
      body: await state.broker.setPool({ profile: body.profile, size: body.size, maxIdle: body.maxIdle, inputs: asStrings(body.inputs) }),
    }),
  }),
  defineRoute({
    method: "post",
    path: "/v1/pools/drain",
    operationId: "drainPool",
    summary: "Drain a profile's pools: size 0 and every warm member destroyed, as `sandboxer pools drain` (operators only)",
    tag: "pools",
    auth: "adm",
    body: PoolDrainBody,
    responses: {
      200: { description: "the pools drained and the members destroyed", schema: DrainResult },
      ...COMMON_ERRORS,
      ...admOnly,
      404: { description: "no such profile or pool", schema: ErrorBody },
    },
    handle: async ({ state, body }) => ({ status: 200, body: await state.broker.drainPool(body.profile, { inputs: asStrings(body.inputs) }) }),
  }),
];
