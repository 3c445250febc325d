/** What every dashboard route gets: the API's state (broker, tokens, shutdown), sessions, and the request's viewer. */
import type { AppState } from "../api/spec.js";
import type { Principal } from "../api/tokens.js";
import type { Env } from "../config.js";
import type { Viewer } from "./layout.js";
import type { SeqTracker } from "./seq.js";
import type { Sessions } from "./session.js";

export interface UiDeps {
  state: AppState;
  env: Env;
  sessions: Sessions;
  seq: SeqTracker;
}

export type UiEnv = {
  Variables: {
    /** Set for the access log, as the API's auth middleware does. */
    principal: Principal | null;
    reqId: string;
    viewer: Viewer;
    sid: string;
  };
};
