import type { ActorRow, RegistryStore } from '../core/registry-store';

type Row = Record<string, SqlStorageValue>;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS actors (
  address TEXT PRIMARY KEY,
  conn_id TEXT NOT NULL,
  session_id TEXT NOT NULL,
  capabilities TEXT NOT NULL,
  metadata TEXT NOT NULL,
  registered_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  ttl_ms INTEGER NOT NULL,
  renewal_token TEXT NOT NULL UNIQUE,
  version INTEGER NOT NULL,
  renew_on_heartbeat INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS actors_by_conn ON actors(conn_id);
CREATE INDEX IF NOT EXISTS actors_by_expiry ON actors(expires_at);
`;

const toRow = (r: Row): ActorRow => ({
  address: String(r.address),
  connId: String(r.conn_id),
  sessionId: String(r.session_id),
  capabilities: JSON.parse(String(r.capabilities)) as string[],
  metadata: JSON.parse(String(r.metadata)) as Record<string, unknown>,
  registeredAt: Number(r.registered_at),
  expiresAt: Number(r.expires_at),
  ttlMs: Number(r.ttl_ms),
  renewalToken: String(r.renewal_token),
  version: Number(r.version),
  renewOnHeartbeat: Number(r.renew_on_heartbeat) === 1,
});

/** The registry in the Durable Object's SQLite storage. */
export class SqlRegistryStore implements RegistryStore {
  constructor(private readonly sql: SqlStorage) {
    sql.exec(SCHEMA);
  }

  private first(query: string, ...args: SqlStorageValue[]): ActorRow | null {
    const rows = this.sql.exec<Row>(query, ...args).toArray();
    return rows[0] ? toRow(rows[0]) : null;
  }

  get(address: string): ActorRow | null {
    return this.first('SELECT * FROM actors WHERE address = ?', address);
  }

  put(row: ActorRow): void {
    this.sql.exec(
      `INSERT OR REPLACE INTO actors (address, conn_id, session_id, capabilities, metadata, registered_at,
         expires_at, ttl_ms, renewal_token, version, renew_on_heartbeat)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      row.address,
      row.connId,
      row.sessionId,
      JSON.stringify(row.capabilities),
      JSON.stringify(row.metadata),
      row.registeredAt,
      row.expiresAt,
      row.ttlMs,
      row.renewalToken,
      row.version,
      row.renewOnHeartbeat ? 1 : 0,
    );
  }

  delete(address: string): void {
    this.sql.exec('DELETE FROM actors WHERE address = ?', address);
  }

  byRenewalToken(token: string): ActorRow | null {
    return this.first('SELECT * FROM actors WHERE renewal_token = ?', token);
  }

  byConn(connId: string): ActorRow[] {
    return this.sql.exec<Row>('SELECT * FROM actors WHERE conn_id = ? ORDER BY address', connId).toArray().map(toRow);
  }

  deleteByConn(connId: string): string[] {
    return this.sql
      .exec<Row>('DELETE FROM actors WHERE conn_id = ? RETURNING address', connId)
      .toArray()
      .map((r) => String(r.address))
      .sort();
  }

  countLive(now: number): number {
    const row = this.sql.exec<Row>('SELECT COUNT(*) AS n FROM actors WHERE expires_at > ?', now).one();
    return Number(row.n);
  }

  *scanFrom(now: number, from: string): Iterable<ActorRow> {
    const cursor = this.sql.exec<Row>(
      'SELECT * FROM actors WHERE address >= ? AND expires_at > ? ORDER BY address',
      from,
      now,
    );
    for (const r of cursor) yield toRow(r);
  }

  page(now: number, offset: number, limit: number): ActorRow[] {
    return this.sql
      .exec<Row>('SELECT * FROM actors WHERE expires_at > ? ORDER BY address LIMIT ? OFFSET ?', now, limit, offset)
      .toArray()
      .map(toRow);
  }

  renewOnHeartbeat(connId: string, now: number): number {
    return this.sql.exec(
      'UPDATE actors SET expires_at = ? + ttl_ms WHERE conn_id = ? AND renew_on_heartbeat = 1 AND expires_at > ?',
      now,
      connId,
      now,
    ).rowsWritten;
  }

  deleteExpired(now: number): number {
    return this.sql.exec('DELETE FROM actors WHERE expires_at <= ?', now).rowsWritten;
  }

  all(): ActorRow[] {
    return this.sql.exec<Row>('SELECT * FROM actors').toArray().map(toRow);
  }

  nextExpiry(): number | null {
    const row = this.sql.exec<Row>('SELECT MIN(expires_at) AS t FROM actors').one();
    return row.t === null ? null : Number(row.t);
  }
}
