/**
 * Numbered migrations, applied in order inside one transaction each and
 * recorded in `schema_migrations`. Never edit a shipped migration: add one.
 */
import { m001 } from "./001-initial.js";

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export const MIGRATIONS: readonly Migration[] = [m001];
