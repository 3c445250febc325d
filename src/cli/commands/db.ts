import { SandboxerError } from "../../errors.js";
import { noExtraPositionals, parse } from "../args.js";
import type { CliContext } from "../context.js";
import { table } from "../output.js";

const USAGE = "sandboxer db status | db migrate | db copy [--to postgres://...] [--replace] [--json]";

/**
 * The store's schema, and moving a SQLite store into PostgreSQL:
 *   db status   applied and pending migrations of each store
 *   db migrate  apply pending migrations to the store in use (SANDBOXER_DATABASE_URL, else SQLite)
 *   db copy     copy $SANDBOXER_HOME's SQLite store into --to (default SANDBOXER_DATABASE_URL)
 */
export async function db(cx: CliContext, argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, { to: { type: "string" }, replace: { type: "boolean" } }, USAGE);
  noExtraPositionals(positionals, 1, USAGE);
  const sub = positionals[0] ?? "status";
  if (cx.env.SANDBOXER_URL)
    throw new SandboxerError("SBX_USAGE", "db works on this machine's store; unset SANDBOXER_URL", { details: { field: "SANDBOXER_URL" } });
  const admin = await import("../../broker/db.js");
  if (sub === "status") {
    const all = await admin.dbStatus(cx.env);
    if (cx.out.json) cx.out.data(all);
    else
      for (const s of all) {
        cx.out.print(`${s.store}  ${s.where}`);
        const rows = [
          ...s.applied.map((m) => [String(m.version).padStart(3, "0"), m.name, `applied ${m.appliedAt}`]),
          ...s.pending.map((m) => [String(m.version).padStart(3, "0"), m.name, "PENDING"]),
        ];
        cx.out.print(rows.length ? table(["VERSION", "NAME", "STATE"], rows) : "  (no database yet: every migration pending)");
        if (s.unknown.length) cx.out.note(`  applied by a newer sandboxer: ${s.unknown.join(", ")}`);
      }
    return 0;
  }
  if (sub === "migrate") {
    const r = await admin.dbMigrate(cx.env);
    if (cx.out.json) cx.out.data(r);
    else cx.out.print(r.applied.length ? `${r.store} ${r.where}: applied ${r.applied.join(", ")}` : `${r.store} ${r.where}: up to date`);
    return 0;
  }
  if (sub === "copy") {
    const to = values.to ?? cx.env.SANDBOXER_DATABASE_URL;
    if (!to) throw new SandboxerError("SBX_USAGE", `missing --to postgres://...\nusage: ${USAGE}`, { details: { field: "to" } });
    const copied = await admin.dbCopy(cx.env, to, { replace: values.replace ?? false });
    if (cx.out.json) cx.out.data({ tables: copied });
    else {
      cx.out.print(
        table(
          ["TABLE", "ROWS", "SHA256 (SQLITE)", "SHA256 (POSTGRES)", ""],
          copied.map((c) => [c.table, String(c.rows), c.checksum.slice(0, 16), c.targetChecksum.slice(0, 16), "ok"]),
        ),
      );
      cx.out.note(`copied ${copied.reduce((n, c) => n + c.rows, 0)} rows in ${copied.length} tables; point every replica at it with SANDBOXER_DATABASE_URL`);
    }
    return 0;
  }
  throw new SandboxerError("SBX_USAGE", `unknown subcommand '${sub.slice(0, 40)}'\nusage: ${USAGE}`);
}
