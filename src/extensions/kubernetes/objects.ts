/**
 * The agent-sandbox objects sand-boxer creates, built from a profile's
 * settings (pure): a `Sandbox` (agents.x-k8s.io/v1beta1) from a pod template,
 * or a `SandboxClaim` (extensions.agents.x-k8s.io/v1beta1) on a warm pool.
 * Both are named after the sandbox id and labelled `sandboxer.id`; the TTL is
 * the object's own `shutdownTime` with policy Delete, so the cluster removes
 * it even if sand-boxer never comes back. Also the typed handle.
 */
import { z } from "zod";
import { SandboxerError } from "../../errors.js";
import type { Sandbox } from "../../types.js";

export const AGENTS = { group: "agents.x-k8s.io", version: "v1beta1" } as const;
export const EXTENSIONS = { group: "extensions.agents.x-k8s.io", version: "v1beta1" } as const;
export type Kind = "Sandbox" | "SandboxClaim";
export const KINDS: Record<Kind, { group: string; version: string; plural: string }> = {
  Sandbox: { ...AGENTS, plural: "sandboxes" },
  SandboxClaim: { ...EXTENSIONS, plural: "sandboxclaims" },
};

export const ID_LABEL = "sandboxer.id";
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$/;

/** Container image references: registry[:port]/path[:tag][@digest]. */
export const IMAGE_RE = /^[a-z0-9][a-z0-9._/:@-]{0,254}$/;

export const inputs = z.object({
  /** Replaces the image of the exec container in the profile's pod template (pod-template profiles only). */
  image: z.string().regex(IMAGE_RE, "a container image reference").optional(),
});
export type Inputs = z.infer<typeof inputs>;

const stringMap = z.record(z.string(), z.string());
/**
 * `settings` of an ext.kubernetes profile: exactly one of `podTemplate`
 * (-> Sandbox.spec.podTemplate), `warmPool` (-> SandboxClaim.spec.warmPoolRef)
 * or `sandboxTemplate` (a claim on the pool agent-sandbox keeps for cold
 * starts from that template, `shadow-pool-<template>`).
 */
export const settingsSchema = z
  .object({
    podTemplate: z
      .strictObject({
        metadata: z.strictObject({ labels: stringMap.optional(), annotations: stringMap.optional() }).optional(),
        spec: z.record(z.string(), z.unknown()),
      })
      .optional(),
    warmPool: z.string().regex(DNS_SUBDOMAIN, "a SandboxWarmPool name").optional(),
    sandboxTemplate: z.string().regex(DNS_SUBDOMAIN, "a SandboxTemplate name").optional(),
    /** The container `exec` runs in (pods with several containers); default: the pod's only one. */
    container: z.string().regex(DNS_LABEL, "a container name").optional(),
    /** Sandbox.spec.service: a headless Service for the pod. */
    service: z.boolean().optional(),
  })
  .refine((s) => [s.podTemplate, s.warmPool, s.sandboxTemplate].filter((x) => x !== undefined).length === 1, {
    message: "give exactly one of settings.podTemplate, settings.warmPool, settings.sandboxTemplate",
    path: ["podTemplate"],
  });
export type Settings = z.infer<typeof settingsSchema>;

export function parseSettings(profileId: string, raw: Record<string, unknown>): Settings {
  const known = Object.fromEntries(Object.entries(raw).filter(([k]) => ["podTemplate", "warmPool", "sandboxTemplate", "container", "service"].includes(k)));
  const parsed = settingsSchema.safeParse(known);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const field = `settings.${issue?.path.join(".") ?? ""}`;
  throw new SandboxerError("SBX_PROFILE_INVALID", `${profileId}: ${field}: ${issue?.message ?? "invalid"}`, { details: { field } });
}

export interface Built {
  kind: Kind;
  body: Record<string, unknown>;
}

/** Labels every object carries, so `list` (stale detection) finds ours and nothing else. */
function ourLabels(sb: Sandbox): Record<string, string> {
  const labels: Record<string, string> = { [ID_LABEL]: sb.id, "app.kubernetes.io/managed-by": "sandboxer" };
  if (sb.project && LABEL_VALUE.test(sb.project)) labels["sandboxer.project"] = sb.project;
  return labels;
}

/** The object for a create: a Sandbox from the pod template, or a SandboxClaim on a pool. */
export function buildObject(sb: Sandbox, s: Settings, input: Inputs, shutdownTime: string): Built {
  const labels = ourLabels(sb);
  const metadata = { name: sb.id, labels };
  if (s.podTemplate) {
    const spec = structuredClone(s.podTemplate.spec);
    if (input.image) setImage(spec, s.container, input.image);
    const podTemplate = {
      metadata: {
        labels: { ...(s.podTemplate.metadata?.labels ?? {}), ...labels },
        ...(s.podTemplate.metadata?.annotations ? { annotations: s.podTemplate.metadata.annotations } : {}),
      },
      spec,
    };
    return {
      kind: "Sandbox",
      body: {
        apiVersion: `${AGENTS.group}/${AGENTS.version}`,
        kind: "Sandbox",
        metadata,
        spec: { podTemplate, ...(s.service !== undefined ? { service: s.service } : {}), shutdownTime, shutdownPolicy: "Delete" },
      },
    };
  }
  const pool = s.warmPool ?? `shadow-pool-${s.sandboxTemplate}`;
  return {
    kind: "SandboxClaim",
    body: {
      apiVersion: `${EXTENSIONS.group}/${EXTENSIONS.version}`,
      kind: "SandboxClaim",
      metadata,
      spec: { warmPoolRef: { name: pool }, lifecycle: { shutdownTime, shutdownPolicy: "Delete" }, additionalPodMetadata: { labels } },
    },
  };
}

function setImage(spec: Record<string, unknown>, container: string | undefined, image: string): void {
  const containers = Array.isArray(spec.containers) ? (spec.containers as Record<string, unknown>[]) : [];
  const target = container ? containers.find((c) => c.name === container) : containers[0];
  if (!target)
    throw new SandboxerError(
      "SBX_PROFILE_INVALID",
      `settings.podTemplate.spec.containers has no container ${container ? `'${container}'` : ""} to set the image of`,
      { details: { field: "settings.podTemplate" } },
    );
  target.image = image;
}

/** `shutdownTime` for a record's expiry, as RFC 3339 in whole seconds (metav1.Time's format). */
export function shutdownTimeOf(expiresAt: Date): string {
  return `${expiresAt.toISOString().slice(0, 19)}Z`;
}

/** What provision returns and the broker stores: enough to watch, exec into and delete the object. */
export const k8sHandle = z.object({
  kind: z.enum(["Sandbox", "SandboxClaim"]),
  cluster: z.string(),
  namespace: z.string().regex(DNS_LABEL),
  name: z.string().regex(DNS_SUBDOMAIN),
  uid: z.string(),
  resourceVersion: z.string(),
  container: z.string().optional(),
});
export type K8sHandle = z.infer<typeof k8sHandle>;
