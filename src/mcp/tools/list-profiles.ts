import { z } from "zod";
import { defineTool } from "../define.js";
import { profilesFor } from "../view.js";

const InputOut = z.object({
  type: z.string(),
  required: z.boolean(),
  default: z.union([z.string(), z.number(), z.boolean()]).optional(),
  description: z.string().optional(),
  values: z.array(z.string()).optional().describe("the allowed values of an enum input"),
});

const ProfileOut = z.object({
  id: z.string(),
  version: z.number().int(),
  description: z.string(),
  backends: z.array(z.string()).describe("the extension, or the route's candidates in order"),
  ttl: z.object({ default: z.string(), max: z.string() }),
  network: z.string().describe("none: loopback only; host: the host's network"),
  inputs: z.record(z.string(), InputOut),
  tags: z.array(z.string()),
});

export const listProfiles = defineTool({
  name: "list_profiles",
  title: "List profiles",
  description:
    "The sandbox profiles you may create from, with each one's backend, TTL default and maximum, and the inputs it takes. Start here to choose a profile for create_sandbox.",
  input: z.strictObject({}),
  output: z.object({ profiles: z.array(ProfileOut) }),
  annotations: { readOnlyHint: true },
  async run(_args, { broker, principal }) {
    const catalog = await broker.catalog();
    const profiles = profilesFor(principal, [...catalog.profiles.values()])
      .sort((a, b) => a.id.localeCompare(b.id))
      .map((p) => ({
        id: p.id,
        version: p.version,
        description: p.description,
        backends: p.extension ? [p.extension] : (p.route?.candidates ?? []),
        ttl: { default: p.ttl.default, max: p.ttl.max },
        network: p.network,
        inputs: Object.fromEntries(
          Object.entries(p.inputs).map(([name, s]) => [
            name,
            {
              type: s.type,
              required: s.required,
              ...(s.default !== undefined ? { default: s.default } : {}),
              ...(s.description ? { description: s.description } : {}),
              ...(s.values ? { values: s.values } : {}),
            },
          ]),
        ),
        tags: p.tags,
      }));
    return { data: { profiles } };
  },
});
