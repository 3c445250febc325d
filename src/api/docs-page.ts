/**
 * A self-contained interactive reference at GET /docs: it reads
 * /openapi.json and lets you try each operation with your token. No CDN, so
 * it works on an air-gapped operator network. All text is set with
 * textContent, never innerHTML, so nothing from a response is interpreted.
 */
export const DOCS_HTML = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>sand-boxer API</title>
<meta name="viewport" content="width=device-width,initial-scale=1">
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:0 auto;max-width:980px;padding:1em;color:#222}
h1{font-size:1.4em}details{border:1px solid #ccc;border-radius:4px;margin:.4em 0;padding:.3em .6em}
summary{cursor:pointer}.m{display:inline-block;width:4.5em;font-weight:bold;text-transform:uppercase}
.get{color:#06c}.post{color:#080}.delete{color:#c00}label{display:block;margin:.3em 0}
input,textarea{font:13px monospace;width:100%;box-sizing:border-box}textarea{height:7em}
pre{background:#f5f5f5;padding:.5em;overflow:auto;max-height:24em}
</style></head><body>
<h1>sand-boxer API</h1>
<p>Machine-readable: <a href="/openapi.json">/openapi.json</a> (OpenAPI 3.1). Errors are <code>{"error":{"code","message"}}</code>.</p>
<label>Bearer token (kept in this tab only) <input id="token" type="password" autocomplete="off"></label>
<div id="ops"></div>
<script>
const tok = document.getElementById("token");
tok.value = sessionStorage.getItem("sbx-token") || "";
tok.addEventListener("change", () => sessionStorage.setItem("sbx-token", tok.value));
const el = (tag, props = {}, ...kids) => { const e = document.createElement(tag); Object.assign(e, props); for (const k of kids) e.append(k); return e; };
fetch("/openapi.json").then((r) => r.json()).then((doc) => {
  const root = document.getElementById("ops");
  for (const [path, ops] of Object.entries(doc.paths)) for (const [method, op] of Object.entries(ops)) {
    const fields = {};
    const form = el("div");
    for (const p of op.parameters || []) {
      const input = el("input", { placeholder: p.description || "" });
      fields[p.in + ":" + p.name] = input;
      form.append(el("label", { textContent: p.in + " " + p.name + (p.required ? " (required)" : "") }, input));
    }
    let body = null;
    if (op.requestBody) { body = el("textarea", { value: "{}" }); form.append(el("label", { textContent: "JSON body" }, body)); }
    const out = el("pre");
    const send = el("button", { textContent: "Send" });
    send.onclick = async () => {
      let url = path.replace(/\\{(\\w+)\\}/g, (_, n) => encodeURIComponent(fields["path:" + n].value));
      const qs = new URLSearchParams();
      const headers = { Accept: "application/json" };
      for (const [k, input] of Object.entries(fields)) {
        const [where, name] = k.split(":");
        if (!input.value) continue;
        if (where === "query") qs.set(name, input.value);
        if (where === "header") headers[name] = input.value;
      }
      if (qs.toString()) url += "?" + qs;
      if (tok.value) headers.Authorization = "Bearer " + tok.value;
      if (body) headers["Content-Type"] = "application/json";
      out.textContent = method.toUpperCase() + " " + url + " ...";
      try {
        const r = await fetch(url, { method: method.toUpperCase(), headers, body: body ? body.value : undefined });
        const text = await r.text();
        let shown = text; try { shown = JSON.stringify(JSON.parse(text), null, 2); } catch {}
        out.textContent = r.status + " " + r.statusText + "\\n" + shown;
      } catch (e) { out.textContent = String(e); }
    };
    form.append(send, out);
    root.append(el("details", {}, el("summary", {}, el("span", { className: "m " + method, textContent: method }), path + "  " + (op.summary || "")), form));
  }
});
</script></body></html>`;
