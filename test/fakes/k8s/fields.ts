/**
 * A small field-set language for the fake API server's strict decoding: the
 * published v1beta1 types of kubernetes-sigs/agent-sandbox (api/v1beta1,
 * extensions/api/v1beta1), ObjectMeta, and the parts of core/v1 PodSpec a
 * sandbox template uses. Unknown fields are reported by path, as the API
 * server's `fieldValidation=Strict` does; wrong types are reported as
 * "Invalid value" (422).
 */

export type Field =
  | "string"
  | "bool"
  | "int"
  | "time"
  | "quantity"
  | "intOrString"
  | "any"
  | { obj: Fields; required?: string[] }
  | { arr: Field }
  | { map: Field }
  | { enum: readonly string[] };
export type Fields = Record<string, Field>;

export interface Problems {
  unknown: string[];
  invalid: { path: string; message: string }[];
}

const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;
const QUANTITY = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+|[KMGTPE]i?|[munk])?$/;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** Why `value` is not of a scalar or enum field's type, or null when it is (or the field is structured). */
function scalarProblem(field: Field, value: unknown): string | null {
  switch (field) {
    case "any":
      return null;
    case "string":
      return typeof value === "string" ? null : "must be a string";
    case "bool":
      return typeof value === "boolean" ? null : "must be a boolean";
    case "int":
      return Number.isInteger(value) ? null : "must be an integer";
    case "time":
      return typeof value === "string" && RFC3339.test(value) ? null : "must be an RFC 3339 date-time";
    case "quantity":
      return (typeof value === "string" && QUANTITY.test(value)) || typeof value === "number" ? null : "must be a quantity";
    case "intOrString":
      return typeof value === "string" || Number.isInteger(value) ? null : "must be an integer or a string";
  }
  if ("enum" in field) return field.enum.includes(value as string) ? null : `supported values: ${field.enum.map((e) => `"${e}"`).join(", ")}`;
  return null;
}

/** Walk `value` against `field`, collecting every problem (all at once, as the server reports them). */
export function check(field: Field, value: unknown, path: string, out: Problems): void {
  if (value === null || value === undefined) return;
  const scalar = scalarProblem(field, value);
  if (scalar) out.invalid.push({ path, message: scalar });
  if (typeof field === "string" || "enum" in field) return;
  if ("arr" in field) {
    if (!Array.isArray(value)) out.invalid.push({ path, message: "must be an array" });
    else for (const [i, v] of value.entries()) check(field.arr, v, `${path}[${i}]`, out);
    return;
  }
  if (!isObject(value)) {
    out.invalid.push({ path, message: "must be an object" });
    return;
  }
  if ("map" in field) {
    for (const [k, v] of Object.entries(value)) check(field.map, v, `${path}[${k}]`, out);
    return;
  }
  for (const name of field.required ?? [])
    if (value[name] === undefined) out.invalid.push({ path: path ? `${path}.${name}` : name, message: "Required value" });
  for (const [k, v] of Object.entries(value)) {
    const sub = field.obj[k];
    const p = path ? `${path}.${k}` : k;
    if (!sub) out.unknown.push(p);
    else check(sub, v, p, out);
  }
}

const strMap: Field = { map: "string" };
const obj = (fields: Fields, required?: string[]): Field => (required ? { obj: fields, required } : { obj: fields });

export const objectMeta = obj({
  name: "string",
  generateName: "string",
  namespace: "string",
  selfLink: "string",
  uid: "string",
  resourceVersion: "string",
  generation: "int",
  creationTimestamp: "time",
  deletionTimestamp: "time",
  deletionGracePeriodSeconds: "int",
  labels: strMap,
  annotations: strMap,
  ownerReferences: {
    arr: obj({ apiVersion: "string", kind: "string", name: "string", uid: "string", controller: "bool", blockOwnerDeletion: "bool" }, [
      "apiVersion",
      "kind",
      "name",
      "uid",
    ]),
  },
  finalizers: { arr: "string" },
  managedFields: { arr: "any" },
});

const resources = obj({ limits: { map: "quantity" }, requests: { map: "quantity" }, claims: { arr: obj({ name: "string", request: "string" }) } });

const envVar = obj({ name: "string", value: "string", valueFrom: "any" }, ["name"]);

const containerSecurityContext = obj({
  capabilities: obj({ add: { arr: "string" }, drop: { arr: "string" } }),
  privileged: "bool",
  seLinuxOptions: "any",
  windowsOptions: "any",
  runAsUser: "int",
  runAsGroup: "int",
  runAsNonRoot: "bool",
  readOnlyRootFilesystem: "bool",
  allowPrivilegeEscalation: "bool",
  procMount: "string",
  seccompProfile: obj({ type: "string", localhostProfile: "string" }),
  appArmorProfile: obj({ type: "string", localhostProfile: "string" }),
});

const container = obj(
  {
    name: "string",
    image: "string",
    command: { arr: "string" },
    args: { arr: "string" },
    workingDir: "string",
    ports: {
      arr: obj({ name: "string", hostPort: "int", containerPort: "int", protocol: { enum: ["TCP", "UDP", "SCTP"] }, hostIP: "string" }, ["containerPort"]),
    },
    envFrom: { arr: "any" },
    env: { arr: envVar },
    resources,
    resizePolicy: { arr: "any" },
    restartPolicy: "string",
    restartPolicyRules: { arr: "any" },
    volumeMounts: {
      arr: obj(
        {
          name: "string",
          readOnly: "bool",
          recursiveReadOnly: "string",
          mountPath: "string",
          subPath: "string",
          mountPropagation: "string",
          subPathExpr: "string",
        },
        ["name", "mountPath"],
      ),
    },
    volumeDevices: { arr: "any" },
    livenessProbe: "any",
    readinessProbe: "any",
    startupProbe: "any",
    lifecycle: "any",
    terminationMessagePath: "string",
    terminationMessagePolicy: "string",
    imagePullPolicy: { enum: ["Always", "Never", "IfNotPresent"] },
    securityContext: containerSecurityContext,
    stdin: "bool",
    stdinOnce: "bool",
    tty: "bool",
  },
  ["name"],
);

export const podSpec = obj(
  {
    volumes: { arr: "any" },
    initContainers: { arr: container },
    containers: { arr: container },
    ephemeralContainers: { arr: "any" },
    restartPolicy: { enum: ["Always", "OnFailure", "Never"] },
    terminationGracePeriodSeconds: "int",
    activeDeadlineSeconds: "int",
    dnsPolicy: "string",
    nodeSelector: strMap,
    serviceAccountName: "string",
    serviceAccount: "string",
    automountServiceAccountToken: "bool",
    nodeName: "string",
    hostNetwork: "bool",
    hostPID: "bool",
    hostIPC: "bool",
    shareProcessNamespace: "bool",
    securityContext: "any",
    imagePullSecrets: { arr: obj({ name: "string" }) },
    hostname: "string",
    subdomain: "string",
    affinity: "any",
    schedulerName: "string",
    tolerations: { arr: obj({ key: "string", operator: "string", value: "string", effect: "string", tolerationSeconds: "int" }) },
    hostAliases: { arr: "any" },
    priorityClassName: "string",
    priority: "int",
    dnsConfig: "any",
    readinessGates: { arr: "any" },
    runtimeClassName: "string",
    enableServiceLinks: "bool",
    preemptionPolicy: "string",
    overhead: { map: "quantity" },
    topologySpreadConstraints: { arr: "any" },
    setHostnameAsFQDN: "bool",
    os: obj({ name: "string" }),
    hostUsers: "bool",
    schedulingGates: { arr: "any" },
    resourceClaims: { arr: "any" },
    resources,
    hostnameOverride: "string",
  },
  ["containers"],
);

/** agents.x-k8s.io/v1beta1 PodMetadata: only labels and annotations. */
const podMetadata = obj({ labels: strMap, annotations: strMap });
const podTemplate = obj({ spec: podSpec, metadata: podMetadata }, ["spec"]);
const pvcTemplate = obj({ metadata: obj({ name: "string", labels: strMap, annotations: strMap }), spec: "any" }, ["spec"]);
const condition = obj({
  type: "string",
  status: { enum: ["True", "False", "Unknown"] },
  observedGeneration: "int",
  lastTransitionTime: "time",
  reason: "string",
  message: "string",
});

/** SandboxBlueprint, inlined in SandboxSpec and SandboxTemplateSpec. */
const blueprint: Fields = { podTemplate, volumeClaimTemplates: { arr: pvcTemplate }, service: "bool" };

export const sandboxSpec = obj(
  { ...blueprint, shutdownTime: "time", shutdownPolicy: { enum: ["Delete", "Retain"] }, operatingMode: { enum: ["Running", "Suspended"] } },
  ["podTemplate"],
);
const sandboxStatus = obj({
  serviceFQDN: "string",
  service: "string",
  conditions: { arr: condition },
  selector: "string",
  podIPs: { arr: "string" },
  nodeName: "string",
});

export const templateSpec = obj(
  {
    ...blueprint,
    networkPolicy: obj({ ingress: { arr: "any" }, egress: { arr: "any" } }),
    networkPolicyManagement: { enum: ["Managed", "Unmanaged"] },
    envVarsInjectionPolicy: { enum: ["Allowed", "Overrides", "Disallowed"] },
    volumeClaimTemplatesPolicy: { enum: ["Disallowed", "Allowed", "Overrides"] },
  },
  ["podTemplate"],
);

export const claimSpec = obj(
  {
    warmPoolRef: obj({ name: "string" }, ["name"]),
    lifecycle: obj({ shutdownTime: "time", ttlSecondsAfterFinished: "int", shutdownPolicy: { enum: ["Delete", "DeleteForeground", "Retain"] } }),
    additionalPodMetadata: podMetadata,
    env: { arr: obj({ name: "string", value: "string", containerName: "string" }, ["name", "value"]) },
    volumeClaimTemplates: { arr: pvcTemplate },
  },
  ["warmPoolRef"],
);
const claimStatus = obj({ conditions: { arr: condition }, sandbox: obj({ name: "string", podIPs: { arr: "string" } }) });

export const warmPoolSpec = obj(
  { replicas: "int", sandboxTemplateRef: obj({ name: "string" }, ["name"]), updateStrategy: obj({ type: { enum: ["Recreate", "OnReplenish"] } }) },
  ["sandboxTemplateRef"],
);
const warmPoolStatus = obj({ replicas: "int", readyReplicas: "int", selector: "string", observedGeneration: "int" });

/** A top-level object: TypeMeta + metadata + spec (+ status, which create ignores). */
export function topLevel(spec: Field, status?: Field): Field {
  return obj({ apiVersion: "string", kind: "string", metadata: objectMeta, spec, ...(status ? { status } : {}) }, ["spec"]);
}

export const SCHEMAS = {
  sandboxes: topLevel(sandboxSpec, sandboxStatus),
  sandboxtemplates: topLevel(templateSpec),
  sandboxclaims: topLevel(claimSpec, claimStatus),
  sandboxwarmpools: topLevel(warmPoolSpec, warmPoolStatus),
} as const;

/** Drop fields the schema does not know (what the server stores when validation only warns). */
export function prune(field: Field, value: unknown): unknown {
  if (value === null || typeof value !== "object" || typeof field === "string") return value;
  if ("arr" in field) return Array.isArray(value) ? value.map((v) => prune(field.arr, v)) : value;
  if ("map" in field) return isObject(value) ? Object.fromEntries(Object.entries(value).map(([k, v]) => [k, prune(field.map, v)])) : value;
  if ("enum" in field || !isObject(value)) return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    const sub = field.obj[k];
    if (sub) out[k] = prune(sub, v);
  }
  return out;
}
