/**
 * The registry's durable storage, as the core sees it. Synchronous on purpose:
 * Durable Object SQLite calls are synchronous, and a synchronous port keeps a
 * whole event's reads and writes in one atomic step (the runtime's output
 * gate holds outgoing frames until those writes are durable).
 */
export interface ActorRow {
  address: string;
  connId: string;
  sessionId: string;
  capabilities: string[];
  metadata: Record<string, unknown>;
  registeredAt: number;
  expiresAt: number;
  ttlMs: number;
  renewalToken: string;
  version: number;
  renewOnHeartbeat: boolean;
}

export interface RegistryStore {
  get(address: string): ActorRow | null;
  put(row: ActorRow): void;
  delete(address: string): void;
  byRenewalToken(token: string): ActorRow | null;
  byConn(connId: string): ActorRow[];
  /** Deletes every row of a connection and returns their addresses. */
  deleteByConn(connId: string): string[];
  countLive(now: number): number;
  /** Live rows with address >= `from`, in address order, read lazily. */
  scanFrom(now: number, from: string): Iterable<ActorRow>;
  /** A page of live rows in address order. */
  page(now: number, offset: number, limit: number): ActorRow[];
  /** Extends the expiry of a connection's renew-on-heartbeat rows. */
  renewOnHeartbeat(connId: string, now: number): number;
  deleteExpired(now: number): number;
  /** Earliest `expiresAt` of any row still stored, or null. */
  nextExpiry(): number | null;
  /** Every stored row, expired or not, in no particular order (what the in-memory cache loads after a wake). */
  all(): ActorRow[];
}
