// sand-boxer dashboard: the little glue htmx does not do. Every page works
// without this file; with it, tables and timelines follow the event stream
// (Server-Sent Events), times tick, snippets copy, and the theme switches.
(() => {
  let source = null;
  let streamUrl = "";

  const fromHtml = (text) => {
    const t = document.createElement("template");
    t.innerHTML = text.trim();
    return t.content.firstElementChild;
  };

  // Sandboxes table: replace a row in place, or add a new one that matches the filters.
  function onRow(ev) {
    const msg = JSON.parse(ev.data);
    const body = document.querySelector("[data-rows]");
    if (!body) return;
    const el = fromHtml(msg.html);
    if (!el) return;
    const old = document.getElementById(el.id);
    if (old) {
      if (!msg.match) el.classList.add("stale-row");
      old.replaceWith(el);
    } else if (msg.match && body.dataset.lastPage === "1") {
      body.querySelector("tr.empty-row")?.remove();
      body.append(el);
      const count = document.querySelector("[data-count]");
      if (count) count.textContent = String(body.querySelectorAll('tr[id^="row-"]').length);
    } else return;
    el.classList.add("flash");
    tick(el);
  }

  // Timelines and the events tail: newest first, bounded.
  function onEvent(ev) {
    const msg = JSON.parse(ev.data);
    for (const list of document.querySelectorAll("[data-events]")) {
      if (list.dataset.sandbox && list.dataset.sandbox !== msg.sandboxId) continue;
      const el = fromHtml(msg.html);
      if (!el) continue;
      list.querySelector("li.empty-row")?.remove();
      if (list.dataset.order === "asc") list.append(el);
      else list.prepend(el);
      while (list.children.length > 300) (list.dataset.order === "asc" ? list.firstElementChild : list.lastElementChild).remove();
      tick(el);
    }
  }

  // The sandbox page: its panes re-render on the server after every change of
  // that sandbox (one request for all of them; never two at once; a pane the
  // user is typing in is left alone until the next change).
  let pending = null;
  let running = false;
  let again = false;
  async function refreshPanes() {
    const url = document.querySelector("[data-panes]")?.dataset.panes;
    if (!url) return;
    if (running) {
      again = true;
      return;
    }
    running = true;
    try {
      const r = await fetch(url, { headers: { "HX-Request": "true" }, credentials: "same-origin" });
      if (!r.ok) return;
      const fresh = fromHtml(await r.text());
      for (const el of fresh ? [...fresh.children] : []) {
        const old = el.id ? document.getElementById(el.id) : null;
        if (!old || old.contains(document.activeElement)) continue;
        old.replaceWith(el);
        tick(el);
      }
    } catch {
      // the next change retries
    } finally {
      running = false;
      if (again) {
        again = false;
        refreshPanes();
      }
    }
  }
  function onSandbox() {
    if (pending) return;
    pending = setTimeout(() => {
      pending = null;
      refreshPanes();
    }, 40);
  }

  // The pools page: the server re-renders its live part after pool activity.
  // A focused link keeps its focus (found again by its href) for keyboard users.
  function onPools(ev) {
    const msg = JSON.parse(ev.data);
    const old = document.getElementById("pools-live");
    const el = fromHtml(msg.html);
    if (!old || !el) return;
    const focused = old.contains(document.activeElement) ? document.activeElement.getAttribute("href") : null;
    old.replaceWith(el);
    if (focused) [...el.querySelectorAll("a[href]")].find((a) => a.getAttribute("href") === focused)?.focus();
  }

  function connect() {
    const host = document.querySelector("[data-stream]");
    const url = host ? host.dataset.stream : "";
    if (url === streamUrl && source) return;
    if (source) source.close();
    source = null;
    document.body.classList.remove("live-off");
    streamUrl = url;
    if (!url || !("EventSource" in window)) return;
    source = new EventSource(url);
    source.addEventListener("row", onRow);
    source.addEventListener("event", onEvent);
    source.addEventListener("sandbox", onSandbox);
    source.addEventListener("pools", onPools);
    const mine = source;
    source.addEventListener("open", () => {
      document.body.classList.add("live");
      document.body.classList.remove("live-off");
    });
    // A dropped stream is retried by the browser itself. A refused one (not 200: the
    // session-limit 429, a signed-out 401) is closed for good: EventSource never retries it,
    // and neither do we (no reconnect loop against a limit); the page says so.
    source.addEventListener("error", () => {
      document.body.classList.remove("live");
      if (mine.readyState === EventSource.CLOSED && source === mine) document.body.classList.add("live-off");
    });
  }

  // Relative times: data-since (age) and data-until (time left) recomputed every few seconds.
  function fmt(ms) {
    const s = Math.max(0, Math.floor(ms / 1000));
    if (s < 60) return `${s}s`;
    const m = Math.floor(s / 60);
    if (m < 60) return `${m}m`;
    const h = Math.floor(m / 60);
    if (h < 48) return m % 60 ? `${h}h ${m % 60}m` : `${h}h`;
    const d = Math.floor(h / 24);
    return h % 24 ? `${d}d ${h % 24}h` : `${d}d`;
  }
  function tick(root = document) {
    const now = Date.now();
    for (const el of root.querySelectorAll("[data-since]")) el.textContent = fmt(now - Date.parse(el.dataset.since));
    for (const el of root.querySelectorAll("[data-until]")) {
      const left = Date.parse(el.dataset.until) - now;
      el.textContent = left <= 0 ? "expired" : fmt(left);
    }
  }

  // Copy buttons next to snippets.
  document.addEventListener("click", async (e) => {
    const btn = e.target.closest("button[data-copy]");
    if (btn) {
      const pre = document.getElementById(btn.dataset.copy);
      if (!pre) return;
      try {
        await navigator.clipboard.writeText(pre.textContent);
        btn.textContent = "Copied";
      } catch {
        const range = document.createRange();
        range.selectNodeContents(pre);
        const sel = window.getSelection();
        sel.removeAllRanges();
        sel.addRange(range);
        btn.textContent = "Selected: Ctrl+C";
      }
      setTimeout(() => {
        btn.textContent = "Copy";
      }, 1500);
      return;
    }
    const theme = e.target.closest("button[data-theme-toggle]");
    if (theme) {
      const root = document.documentElement;
      const dark = root.dataset.theme ? root.dataset.theme === "dark" : matchMedia("(prefers-color-scheme: dark)").matches;
      root.dataset.theme = dark ? "light" : "dark";
      // biome-ignore lint/suspicious/noDocumentCookie: one plain preference cookie; the Cookie Store API is not in every browser
      document.cookie = `sbx_theme=${root.dataset.theme}; path=/ui; max-age=31536000; SameSite=Strict`;
    }
  });

  // Filters apply as soon as a select changes (the Apply button stays for keyboard and no-JS use).
  document.addEventListener("change", (e) => {
    const form = e.target.closest("form[data-autosubmit]");
    if (form && e.target.tagName === "SELECT") form.requestSubmit();
  });

  function init() {
    for (const el of document.querySelectorAll("[data-js-only]")) el.removeAttribute("hidden");
    connect();
    tick();
  }
  document.addEventListener("DOMContentLoaded", init);
  document.addEventListener("htmx:afterSettle", init);
  setInterval(() => tick(), 5000);
})();
