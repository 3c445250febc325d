/**
 * One error class with a code catalog. Every code has a CLI exit code, an HTTP
 * status and a line in docs/errors.md (test/errors-doc.test.ts keeps them in sync).
 * Exit codes: 0 ok, 1 operation failed, 2 bad input, 3 not found, 4 refused.
 */
export const ERROR_CATALOG = {
  SBX_USAGE: { exit: 2, http: 400, summary: "The command line or request is malformed." },
  SBX_PROFILE_NOT_FOUND: { exit: 2, http: 400, summary: "No profile with that id." },
  SBX_PROFILE_INVALID: { exit: 2, http: 400, summary: "A profile file fails validation." },
  SBX_EXTENSION_NOT_FOUND: { exit: 2, http: 400, summary: "No extension with that id." },
  SBX_EXTENSION_INVALID: {
    exit: 2,
    http: 500,
    summary: "An extension's definition contradicts itself (a capability without its method, a bad placement) or its module cannot be loaded; it is not used.",
  },
  SBX_EXTENSION_DISABLED: { exit: 4, http: 403, summary: "The extension is disabled in its registration." },
  SBX_INPUT_UNKNOWN: { exit: 2, http: 400, summary: "An input the profile does not declare." },
  SBX_INPUT_MISSING: { exit: 2, http: 400, summary: "A required input was not given." },
  SBX_INPUT_INVALID: { exit: 2, http: 400, summary: "An input value fails its type or safety check." },
  SBX_TTL_INVALID: { exit: 2, http: 400, summary: "A TTL or duration is malformed or above the profile maximum." },
  SBX_HOST_NOT_FOUND: { exit: 2, http: 400, summary: "The host is not in the inventory, or outside the placement of a locked profile." },
  SBX_CONFIG_INVALID: { exit: 2, http: 500, summary: "The config file fails validation." },
  SBX_UNSUPPORTED: { exit: 2, http: 422, summary: "The extension lacks the capability asked for." },
  SBX_NOT_FOUND: { exit: 3, http: 404, summary: "No sandbox (or snapshot, event) with that id." },
  SBX_INVALID_STATE: { exit: 4, http: 409, summary: "The sandbox is not in a state that allows the operation." },
  SBX_BUSY: { exit: 4, http: 409, summary: "Another live process owns the sandbox right now." },
  SBX_INSUFFICIENT_CREDITS: { exit: 4, http: 402, summary: "The credit balance cannot cover the reservation." },
  SBX_NO_CAPACITY: { exit: 4, http: 503, summary: "Every candidate backend is full, at its limit or on a host that is down." },
  SBX_FORBIDDEN: { exit: 4, http: 403, summary: "The actor may not do this." },
  SBX_POLICY_DENIED: {
    exit: 4,
    http: 403,
    summary:
      "The stack asks for something the profile's compose policy refuses (privileged, host namespaces, a path outside the stack...); nothing was created.",
  },
  SBX_UNAUTHORIZED: { exit: 4, http: 401, summary: "The API request carries no valid bearer token (missing, unknown or revoked)." },
  SBX_RATE_LIMITED: { exit: 4, http: 429, summary: "Too many API requests for this token; retry after the Retry-After seconds." },
  SBX_SESSION_LIMIT: {
    exit: 4,
    http: 429,
    summary:
      "The token (or its project, or the sandbox) already holds as many open terminals, execs, event streams, running background processes or MCP exchanges as the server's sessionLimits allow; nothing was opened.",
  },
  SBX_IDEMPOTENCY_CONFLICT: { exit: 4, http: 409, summary: "The idempotency key was already used with a different request body." },
  SBX_TOO_LARGE: { exit: 4, http: 413, summary: "An upload passed the profile's size limit (files.maxUpload); nothing was written." },
  SBX_DEPENDENCY_MISSING: { exit: 1, http: 500, summary: "A required tool (bwrap, nsenter, ssh, ...) is not installed." },
  SBX_HOST_UNREACHABLE: { exit: 1, http: 503, summary: "The placement host cannot be reached." },
  SBX_PROVISION_FAILED: { exit: 1, http: 502, summary: "The extension failed to provision; what it made was torn down." },
  SBX_READY_TIMEOUT: { exit: 1, http: 504, summary: "The sandbox did not become ready within the profile timeout." },
  SBX_TEARDOWN_FAILED: { exit: 1, http: 502, summary: "Teardown failed; the record is destroy_failed and reap retries it." },
  SBX_CANCELLED: { exit: 1, http: 499, summary: "The operation was cancelled (signal or destroy) and cleaned up." },
  SBX_EXEC_FAILED: { exit: 1, http: 502, summary: "The command could not be started inside the sandbox." },
  SBX_SNAPSHOT_FAILED: { exit: 1, http: 502, summary: "The workspace could not be archived; no snapshot was recorded." },
  SBX_SNAPSHOT_CORRUPT: {
    exit: 1,
    http: 422,
    summary: "A snapshot archive is missing or fails its digest check (BLAKE3, or SHA-256 for older snapshots); restore refused, nothing created.",
  },
  SBX_HANDLE_INVALID: {
    exit: 1,
    http: 500,
    summary: "A record's stored handle does not parse with its extension's handle schema (written by another version?); nothing was run.",
  },
  SBX_STORE: { exit: 1, http: 500, summary: "The state store failed (locked, corrupt or unwritable)." },
  SBX_STORE_NOT_EMPTY: { exit: 4, http: 409, summary: "`db copy` refused: the target database already holds records (--replace overwrites them)." },
  SBX_INTERNAL: { exit: 1, http: 500, summary: "An unexpected error; please report it." },
} as const satisfies Record<string, { exit: number; http: number; summary: string }>;

export type ErrorCode = keyof typeof ERROR_CATALOG;

export class SandboxerError extends Error {
  readonly code: ErrorCode;
  /** Structured details safe to print (never secrets). */
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message: string, opts: { cause?: unknown; details?: Record<string, unknown> } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = "SandboxerError";
    this.code = code;
    this.details = opts.details;
  }

  get exitCode(): number {
    return ERROR_CATALOG[this.code].exit;
  }

  get httpStatus(): number {
    return ERROR_CATALOG[this.code].http;
  }

  toJSON(): { code: ErrorCode; message: string; details?: Record<string, unknown> } {
    return this.details ? { code: this.code, message: this.message, details: this.details } : { code: this.code, message: this.message };
  }
}

/** Wrap anything thrown into a SandboxerError, keeping codes already assigned. */
export function toSandboxerError(err: unknown, fallback: ErrorCode = "SBX_INTERNAL"): SandboxerError {
  if (err instanceof SandboxerError) return err;
  // An operator's extension built against another copy of this package throws that copy's class.
  if (err instanceof Error && err.name === "SandboxerError") {
    const { code, details } = err as Error & { code?: unknown; details?: unknown };
    if (typeof code === "string" && isErrorCode(code)) {
      const safe = typeof details === "object" && details !== null ? (details as Record<string, unknown>) : undefined;
      return new SandboxerError(code, err.message, { cause: err, ...(safe ? { details: safe } : {}) });
    }
  }
  const message = err instanceof Error ? err.message : String(err);
  return new SandboxerError(fallback, message, { cause: err });
}

export function isErrorCode(value: string): value is ErrorCode {
  return Object.hasOwn(ERROR_CATALOG, value);
}
