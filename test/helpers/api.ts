import { createApp } from "../../src/api/app.js";
import type { ApiOptions } from "../../src/api/spec.js";
import type { Broker } from "../../src/broker.js";
import type { Env } from "../../src/config.js";
import { type TestHome, makeHome } from "./home.js";

/** A test home, its broker, an in-process API app and tokens for three tenants. */
export interface ApiFixture {
  home: TestHome;
  broker: Broker;
  app: ReturnType<typeof createApp>["app"];
  created: ReturnType<typeof createApp>;
  log: string[];
  tokens: { adm: string; p1: string; p2: string; atm1: string };
  /** Request with a bearer token; `body` objects are sent as JSON. */
  call(method: string, path: string, opts?: { token?: string | null; body?: unknown; raw?: string; headers?: Record<string, string> }): Promise<Response>;
  cleanup(): Promise<void>;
}

/** `env`: added to the home's environment (a vendor fake's URL and credentials). */
export async function apiFixture(opts: ApiOptions = {}, env: Env = {}): Promise<ApiFixture> {
  const home = makeHome(env);
  const broker = home.broker();
  const log: string[] = [];
  const created = createApp(broker, { accessLog: (l) => log.push(l), ...opts });
  const mint = async (actor: string, project?: string) => (await broker.createToken({ actor, project })).token;
  const tokens = { adm: await mint("adm"), p1: await mint("agt", "p1"), p2: await mint("agt", "p2"), atm1: await mint("atm", "p1") };
  return {
    home,
    broker,
    app: created.app,
    created,
    log,
    tokens,
    call(method, path, o = {}) {
      const headers: Record<string, string> = { ...(o.headers ?? {}) };
      const token = o.token === undefined ? tokens.adm : o.token;
      if (token) headers.Authorization = `Bearer ${token}`;
      let body: string | undefined = o.raw;
      if (o.body !== undefined) {
        body = JSON.stringify(o.body);
        headers["Content-Type"] = "application/json";
      }
      return Promise.resolve(created.app.request(path, { method, headers, body }));
    },
    async cleanup() {
      await created.shutdown();
      await home.cleanup();
    },
  };
}
