import type { KvStore } from '../core/kv-store';

type Row = Record<string, SqlStorageValue>;

/** Upper bound for a prefix range: every key with the prefix sorts below it. */
const prefixEnd = (prefix: string): string => `${prefix}\uffff`;

/** The ordered key-value port on the Durable Object's SQLite storage. */
export class SqlKvStore implements KvStore {
  constructor(private readonly sql: SqlStorage) {
    sql.exec('CREATE TABLE IF NOT EXISTS kv (ns TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (ns, key)) WITHOUT ROWID');
  }

  get<T>(ns: string, key: string): T | null {
    const rows = this.sql.exec<Row>('SELECT value FROM kv WHERE ns = ? AND key = ?', ns, key).toArray();
    return rows[0] ? (JSON.parse(String(rows[0].value)) as T) : null;
  }

  put(ns: string, key: string, value: unknown): void {
    this.sql.exec('INSERT OR REPLACE INTO kv (ns, key, value) VALUES (?, ?, ?)', ns, key, JSON.stringify(value));
  }

  delete(ns: string, key: string): void {
    this.sql.exec('DELETE FROM kv WHERE ns = ? AND key = ?', ns, key);
  }

  scan<T>(ns: string, prefix: string, limit = -1): [string, T][] {
    return this.sql
      .exec<Row>(
        'SELECT key, value FROM kv WHERE ns = ? AND key >= ? AND key < ? ORDER BY key LIMIT ?',
        ns,
        prefix,
        prefixEnd(prefix),
        limit,
      )
      .toArray()
      .map((r) => [String(r.key), JSON.parse(String(r.value)) as T]);
  }

  count(ns: string, prefix: string): number {
    const row = this.sql
      .exec<Row>('SELECT COUNT(*) AS n FROM kv WHERE ns = ? AND key >= ? AND key < ?', ns, prefix, prefixEnd(prefix))
      .one();
    return Number(row.n);
  }

  deletePrefix(ns: string, prefix: string): number {
    return this.sql.exec('DELETE FROM kv WHERE ns = ? AND key >= ? AND key < ?', ns, prefix, prefixEnd(prefix)).rowsWritten;
  }
}
