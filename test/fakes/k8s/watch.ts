/**
 * Watches: a chunked stream of `{"type","object"}` lines. From a given
 * resourceVersion the changes after it are replayed and then followed live;
 * without one, the current objects come first as ADDED. A version the log no
 * longer reaches gets an ERROR event carrying a 410 Expired Status, as etcd
 * compaction makes the real server answer. Bookmarks on request.
 */
import type { ServerResponse } from "node:http";
import { expired, type ResourceDef } from "./resources.js";
import { matches, type Selector } from "./selectors.js";
import type { Change, KObject, ObjectStore } from "./store.js";

export interface OpenWatch {
  resource: string;
  namespace: string | undefined;
  query: URLSearchParams;
  /** Cut the connection as a dropped network or a restarting apiserver would. */
  interrupt(): void;
  /** Answer 410 Gone on the stream (the server lost this watch's history) and end it. */
  expire(): void;
}

export interface WatchOptions {
  store: ObjectStore;
  def: ResourceDef;
  namespace: string | undefined;
  selector: Selector;
  query: URLSearchParams;
  res: ServerResponse;
  open: Set<OpenWatch>;
  onOpen(w: OpenWatch): void;
  bookmarkMs: number;
}

export function serveWatch(o: WatchOptions): void {
  const { store, def, res } = o;
  const rv = o.query.get("resourceVersion") ?? "";
  const timeoutSeconds = Number(o.query.get("timeoutSeconds") ?? 0);
  res.writeHead(200, { "content-type": "application/json", "transfer-encoding": "chunked", "cache-control": "no-cache, private" });
  // As the API server does: the headers go out now, so a client's watch call returns before the first event.
  res.flushHeaders();
  const send = (type: string, object: unknown) => res.write(`${JSON.stringify({ type, object })}\n`);
  const visible = (obj: KObject) => (o.namespace === undefined || obj.metadata.namespace === o.namespace) && matches(obj, o.selector);
  let closed = false;
  const timers: NodeJS.Timeout[] = [];
  let unsubscribe = () => {};
  const close = () => {
    if (closed) return;
    closed = true;
    unsubscribe();
    for (const t of timers) clearInterval(t);
    o.open.delete(watch);
  };
  const watch: OpenWatch = {
    resource: def.plural,
    namespace: o.namespace,
    query: o.query,
    interrupt() {
      close();
      res.socket?.destroy();
    },
    expire() {
      if (closed) return;
      send("ERROR", expired(rv || "0", store.compactedThrough));
      close();
      res.end();
    },
  };
  res.on("close", close);

  if (rv !== "" && rv !== "0") {
    const n = Number(rv);
    const past = Number.isInteger(n) ? store.since(n, def.plural) : "expired";
    if (past === "expired") {
      // The watch "starts" and at once reports that its history is gone.
      send("ERROR", expired(rv, store.compactedThrough));
      close();
      res.end();
      return;
    }
    unsubscribe = subscribe();
    for (const c of past) if (visible(c.object)) send(c.type, c.object);
  } else {
    unsubscribe = subscribe();
    for (const obj of store.list(def.plural, o.namespace, o.selector)) send("ADDED", obj);
  }
  if (o.query.get("allowWatchBookmarks") === "true") {
    timers.push(
      setInterval(
        () =>
          send("BOOKMARK", {
            kind: def.kind,
            apiVersion: def.group ? `${def.group}/${def.version}` : def.version,
            metadata: { resourceVersion: store.resourceVersion },
          }),
        o.bookmarkMs,
      ),
    );
  }
  if (timeoutSeconds > 0)
    timers.push(
      setTimeout(() => {
        close();
        res.end();
      }, timeoutSeconds * 1000),
    );
  o.open.add(watch);
  o.onOpen(watch);

  function subscribe() {
    return store.onChange((c: Change) => {
      if (closed || c.resource !== def.plural || !visible(c.object)) return;
      send(c.type, c.object);
    });
  }
}
