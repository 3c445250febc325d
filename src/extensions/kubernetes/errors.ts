/**
 * API errors as sand-boxer errors that say what to do: a 403 names the verb,
 * resource and namespace RBAC refused and points at the Role the broker needs;
 * an API server that cannot be reached is SBX_HOST_UNREACHABLE (routing then
 * treats the cluster as down, as an SSH host); the server's own Status message
 * (which names the field for validation errors) is kept.
 */
import { type ErrorCode, SandboxerError } from "../../errors.js";

export interface Attempt {
  cluster: string;
  server?: string | undefined;
  verb: string;
  /** `sandboxes.agents.x-k8s.io`, `pods/exec`, ... */
  resource: string;
  namespace: string;
}

const NETWORK = /ECONNREFUSED|ENOTFOUND|EHOSTUNREACH|ENETUNREACH|ETIMEDOUT|ECONNRESET|EAI_AGAIN|socket hang up/;
const RBAC_DOC = 'docs/kubernetes.md ("RBAC")';

/** The HTTP status of a client-node error: ApiException.code, a watch's statusCode, a refused WebSocket upgrade. */
export function statusOf(err: unknown): number | undefined {
  const e = err as { code?: unknown; statusCode?: unknown; message?: unknown };
  if (typeof e?.code === "number") return e.code;
  if (typeof e?.statusCode === "number") return e.statusCode;
  const m = /Unexpected server response: (\d{3})/.exec(String(e?.message ?? ""));
  return m ? Number(m[1]) : undefined;
}

/** The Status object's message and reason, from an ApiException's body (a JSON string in client-node 1.x). */
export function serverStatus(err: unknown): { message: string; reason: string } {
  let body = (err as { body?: unknown })?.body;
  if (typeof body === "string") {
    const text = body;
    try {
      body = JSON.parse(text);
    } catch {
      return { message: text.slice(0, 300), reason: "" };
    }
  }
  const b = body as { message?: unknown; reason?: unknown } | undefined;
  return { message: typeof b?.message === "string" ? b.message : "", reason: typeof b?.reason === "string" ? b.reason : "" };
}

export function isNotFound(err: unknown): boolean {
  return statusOf(err) === 404;
}

export function isNetworkError(err: unknown): boolean {
  const e = err as { code?: unknown; errno?: unknown; type?: unknown; message?: unknown; cause?: { code?: unknown } };
  return NETWORK.test(`${e?.code ?? ""} ${e?.errno ?? ""} ${e?.cause?.code ?? ""} ${e?.message ?? ""}`) || e?.type === "system";
}

export function apiError(err: unknown, a: Attempt, fallback: ErrorCode = "SBX_PROVISION_FAILED"): SandboxerError {
  if (err instanceof SandboxerError) return err;
  const status = statusOf(err);
  const where = `cluster '${a.cluster}'`;
  const details = { cluster: a.cluster, verb: a.verb, resource: a.resource, namespace: a.namespace, ...(status ? { status } : {}) };
  if (status === undefined && isNetworkError(err)) {
    const why = String((err as Error)?.message ?? err)
      .split("\n")[0]
      ?.slice(0, 200);
    return new SandboxerError("SBX_HOST_UNREACHABLE", `${where}: the API server${a.server ? ` ${a.server}` : ""} is unreachable: ${why}`, {
      cause: err,
      details: { ...details, host: a.cluster },
    });
  }
  const { message, reason } = serverStatus(err);
  if (status === 403) {
    return new SandboxerError(
      "SBX_FORBIDDEN",
      `${where} refused to ${a.verb} ${a.resource} in namespace '${a.namespace}' (403 Forbidden${message ? `: ${message}` : ""}); grant the broker's account the Role in ${RBAC_DOC}`,
      { cause: err, details },
    );
  }
  if (status === 401) {
    return new SandboxerError(
      "SBX_FORBIDDEN",
      `${where} rejected the kubeconfig's credentials (401 Unauthorized) on ${a.verb} ${a.resource}: refresh the token or certificate in the kubeconfig`,
      { cause: err, details },
    );
  }
  const text =
    message ||
    String((err as Error)?.message ?? err)
      .split("\n")[0]
      ?.slice(0, 300);
  return new SandboxerError(
    fallback,
    `${where}: ${a.verb} ${a.resource} in namespace '${a.namespace}' failed${status ? ` (${status}${reason ? ` ${reason}` : ""})` : ""}: ${text}`,
    { cause: err, details },
  );
}
