import type { ActorRow, RegistryStore } from './registry-store';
import { compareUtf8, SortedKeys, storedCopy } from './sorted-keys';

/**
 * The registry as the core reads it: every stored row held in memory, with
 * the durable store (SQLite in the Durable Object) written through on every
 * change. Reading a target's row from SQLite on every hub:send was ~16 % of
 * a routed frame's CPU (issue 11); now a send reads a Map.
 *
 * Lifetime and consistency: one cache per HubCore, loaded from the durable
 * store on first use. The core is the only writer of the durable store while
 * it lives, so the copy cannot go stale; when the object is evicted the core
 * and its cache go with it, and the next event loads the rows again (as the
 * sessions are rebuilt from their attachments). Each write goes to the
 * durable store first and to memory only once that returned, so a write that
 * throws (a UNIQUE violation, say) leaves both unchanged. The port is
 * synchronous, like the SQLite API under it, so a whole event's reads and
 * writes stay one atomic step.
 *
 * Rows handed out are frozen and shared: a caller builds a new row to change
 * one, as the handlers always did.
 */
export class RegistryCache implements RegistryStore {
  private loaded = false;
  private readonly rows = new Map<string, ActorRow>();
  private readonly byToken = new Map<string, string>();
  private readonly byConnIndex = new Map<string, Set<string>>();
  private readonly order = new SortedKeys(() => this.rows.keys());
  /** Earliest expiry of any stored row; undefined until computed after a change. */
  private earliest: number | null | undefined = undefined;

  constructor(private readonly durable: RegistryStore) {}

  private load(): void {
    if (this.loaded) return;
    this.loaded = true;
    for (const row of this.durable.all()) this.remember(storedCopy(row));
  }

  private remember(row: ActorRow): void {
    const old = this.rows.get(row.address);
    if (old) this.forget(old, false);
    this.rows.set(row.address, row);
    if (!old) this.order.add(row.address);
    this.byToken.set(row.renewalToken, row.address);
    let conn = this.byConnIndex.get(row.connId);
    if (!conn) this.byConnIndex.set(row.connId, (conn = new Set()));
    conn.add(row.address);
    this.earliest = undefined;
  }

  private forget(row: ActorRow, removeRow = true): void {
    if (removeRow) {
      this.rows.delete(row.address);
      this.order.remove(row.address);
    }
    if (this.byToken.get(row.renewalToken) === row.address) this.byToken.delete(row.renewalToken);
    const conn = this.byConnIndex.get(row.connId);
    conn?.delete(row.address);
    if (conn?.size === 0) this.byConnIndex.delete(row.connId);
    this.earliest = undefined;
  }

  get(address: string): ActorRow | null {
    this.load();
    return this.rows.get(address) ?? null;
  }

  put(row: ActorRow): void {
    this.load();
    this.durable.put(row);
    this.remember(storedCopy(row));
  }

  delete(address: string): void {
    this.load();
    this.durable.delete(address);
    const row = this.rows.get(address);
    if (row) this.forget(row);
  }

  byRenewalToken(token: string): ActorRow | null {
    this.load();
    const address = this.byToken.get(token);
    return address === undefined ? null : (this.rows.get(address) ?? null);
  }

  byConn(connId: string): ActorRow[] {
    this.load();
    const addresses = [...(this.byConnIndex.get(connId) ?? [])].sort(compareUtf8);
    return addresses.map((a) => this.rows.get(a)!);
  }

  deleteByConn(connId: string): string[] {
    this.load();
    // Nothing held: no statement at all (every closing session passes here).
    if (!this.byConnIndex.has(connId)) return [];
    const removed = this.durable.deleteByConn(connId);
    for (const row of this.byConn(connId)) this.forget(row);
    return removed;
  }

  countLive(now: number): number {
    this.load();
    let n = 0;
    for (const row of this.rows.values()) if (row.expiresAt > now) n++;
    return n;
  }

  *scanFrom(now: number, from: string): Iterable<ActorRow> {
    this.load();
    const keys = this.order.all();
    for (let i = this.order.lowerBound(from); i < keys.length; i++) {
      const row = this.rows.get(keys[i]!);
      if (row && row.expiresAt > now) yield row;
    }
  }

  page(now: number, offset: number, limit: number): ActorRow[] {
    this.load();
    const out: ActorRow[] = [];
    let skipped = 0;
    for (const key of this.order.all()) {
      if (out.length >= limit) break;
      const row = this.rows.get(key)!;
      if (row.expiresAt <= now) continue;
      if (skipped < offset) skipped++;
      else out.push(row);
    }
    return out;
  }

  renewOnHeartbeat(connId: string, now: number): number {
    this.load();
    const due = this.byConn(connId).filter((r) => r.renewOnHeartbeat && r.expiresAt > now);
    // Most sessions register nothing renewable: their heartbeats then write nothing.
    if (due.length === 0) return 0;
    const n = this.durable.renewOnHeartbeat(connId, now);
    for (const row of due) this.remember(storedCopy({ ...row, expiresAt: now + row.ttlMs }));
    return n;
  }

  deleteExpired(now: number): number {
    this.load();
    const next = this.nextExpiry();
    // Every alarm asks; only one that finds an expired row touches storage.
    if (next === null || next > now) return 0;
    const n = this.durable.deleteExpired(now);
    for (const row of [...this.rows.values()]) if (row.expiresAt <= now) this.forget(row);
    return n;
  }

  nextExpiry(): number | null {
    this.load();
    if (this.earliest === undefined) {
      let min: number | null = null;
      for (const row of this.rows.values()) if (min === null || row.expiresAt < min) min = row.expiresAt;
      this.earliest = min;
    }
    return this.earliest;
  }

  all(): ActorRow[] {
    this.load();
    return [...this.rows.values()];
  }
}
