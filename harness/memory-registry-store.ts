import type { ActorRow, RegistryStore } from '../src/core/registry-store';

/**
 * The registry store of the fake Durable Object: same contract as the SQLite
 * store, kept in a Map that outlives a simulated hibernation. Rows are copied
 * in and out so the core can never keep a live reference across events.
 */
export class MemoryRegistryStore implements RegistryStore {
  private readonly rows = new Map<string, ActorRow>();

  private sorted(now: number): ActorRow[] {
    return [...this.rows.values()]
      .filter((r) => r.expiresAt > now)
      .sort((a, b) => (a.address < b.address ? -1 : a.address > b.address ? 1 : 0));
  }

  get(address: string): ActorRow | null {
    const row = this.rows.get(address);
    return row ? structuredClone(row) : null;
  }

  put(row: ActorRow): void {
    for (const [address, existing] of this.rows) {
      if (existing.renewalToken === row.renewalToken && address !== row.address) {
        throw new Error('UNIQUE constraint failed: actors.renewal_token');
      }
    }
    this.rows.set(row.address, structuredClone(row));
  }

  delete(address: string): void {
    this.rows.delete(address);
  }

  byRenewalToken(token: string): ActorRow | null {
    for (const row of this.rows.values()) if (row.renewalToken === token) return structuredClone(row);
    return null;
  }

  byConn(connId: string): ActorRow[] {
    return [...this.rows.values()]
      .filter((r) => r.connId === connId)
      .sort((a, b) => (a.address < b.address ? -1 : 1))
      .map((r) => structuredClone(r));
  }

  deleteByConn(connId: string): string[] {
    const gone = this.byConn(connId).map((r) => r.address);
    for (const address of gone) this.rows.delete(address);
    return gone;
  }

  countLive(now: number): number {
    let n = 0;
    for (const row of this.rows.values()) if (row.expiresAt > now) n++;
    return n;
  }

  *scanFrom(now: number, from: string): Iterable<ActorRow> {
    for (const row of this.sorted(now)) if (row.address >= from) yield structuredClone(row);
  }

  page(now: number, offset: number, limit: number): ActorRow[] {
    return this.sorted(now)
      .slice(offset, offset + limit)
      .map((r) => structuredClone(r));
  }

  renewOnHeartbeat(connId: string, now: number): number {
    let n = 0;
    for (const row of this.rows.values()) {
      if (row.connId === connId && row.renewOnHeartbeat && row.expiresAt > now) {
        row.expiresAt = now + row.ttlMs;
        n++;
      }
    }
    return n;
  }

  deleteExpired(now: number): number {
    let n = 0;
    for (const [address, row] of this.rows) {
      if (row.expiresAt <= now) {
        this.rows.delete(address);
        n++;
      }
    }
    return n;
  }

  nextExpiry(): number | null {
    let min: number | null = null;
    for (const row of this.rows.values()) if (min === null || row.expiresAt < min) min = row.expiresAt;
    return min;
  }

  /** For harness invariants: every stored row, expired or not. */
  all(): ActorRow[] {
    return [...this.rows.values()].map((r) => structuredClone(r));
  }
}
