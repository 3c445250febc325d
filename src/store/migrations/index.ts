/**
 * Numbered migrations, applied in order inside one transaction each and
 * recorded in `schema_migrations`. Never edit a shipped migration: add one.
 */
import { m001 } from "./001-initial.js";
import { m002 } from "./002-snapshots.js";
import { m003 } from "./003-credits.js";
import { m004 } from "./004-api.js";
import { m005 } from "./005-reconcile-index.js";
import { m010 } from "./010-replica-owner.js";
import { m014 } from "./014-pools.js";
import { m015 } from "./015-ui-sessions.js";

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export const MIGRATIONS: readonly Migration[] = [m001, m002, m003, m004, m005, m010, m014, m015];
