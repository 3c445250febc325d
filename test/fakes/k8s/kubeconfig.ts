/**
 * TLS for the fake API server (a throwaway self-signed certificate for
 * 127.0.0.1, made with the system's openssl) and the kubeconfig a test writes
 * to point a client at it: certificate-authority-data, a bearer token, a
 * context with a default namespace.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { stringify } from "yaml";

let cached: { key: string; cert: string } | undefined;

/** One certificate per test process (openssl takes a few ms; reuse keeps every fake fast). */
export function selfSignedCert(): { key: string; cert: string } {
  if (cached) return cached;
  const dir = mkdtempSync(join(tmpdir(), "k8s-fake-tls-"));
  try {
    execFileSync(
      "openssl",
      [
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        join(dir, "key.pem"),
        "-out",
        join(dir, "cert.pem"),
        "-days",
        "2",
        "-subj",
        "/CN=127.0.0.1",
        "-addext",
        "subjectAltName=IP:127.0.0.1",
      ],
      { stdio: "ignore" },
    );
    cached = { key: readFileSync(join(dir, "key.pem"), "utf8"), cert: readFileSync(join(dir, "cert.pem"), "utf8") };
    return cached;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export interface KubeconfigOptions {
  server: string;
  token: string;
  ca?: string | undefined;
  /** Context (and cluster) name; default "fake". */
  context?: string;
  namespace?: string;
  /** More contexts in the same file, e.g. one pointing at a closed port. */
  extra?: { context: string; server: string; namespace?: string }[];
}

/** Write a kubeconfig file as `kubectl config` would; returns its path. */
export function writeKubeconfig(path: string, o: KubeconfigOptions): string {
  const name = o.context ?? "fake";
  const all = [{ context: name, server: o.server, namespace: o.namespace }, ...(o.extra ?? [])];
  const doc = {
    apiVersion: "v1",
    kind: "Config",
    // client-node refuses plain http unless TLS verification is explicitly off, as kubectl's insecure flag says.
    clusters: all.map((c) => ({
      name: c.context,
      cluster: {
        server: c.server,
        ...(c.server.startsWith("http:")
          ? { "insecure-skip-tls-verify": true }
          : o.ca
            ? { "certificate-authority-data": Buffer.from(o.ca).toString("base64") }
            : {}),
      },
    })),
    users: [{ name: "sandboxer-broker", user: { token: o.token } }],
    contexts: all.map((c) => ({
      name: c.context,
      context: { cluster: c.context, user: "sandboxer-broker", ...(c.namespace ? { namespace: c.namespace } : {}) },
    })),
    "current-context": name,
  };
  writeFileSync(path, stringify(doc), { mode: 0o600 });
  return path;
}
