import { key, seqKey, SEP, type KvStore } from './kv-store';
import { NS } from './namespaces';

/**
 * The seen-set of idempotent requests (docs/PROTOCOL.md "Idempotent
 * requests"): per scope (a session, or with auth on an identity), the request
 * ids of the last DEDUP_WINDOW_MS, at most DEDUP_LIMIT of them, each with the
 * exact frames the hub answered it with.
 *
 * The hot path must not write storage per frame (one SQLite write per frame
 * starves the other sockets of the object), so ids are recorded in memory and
 * written in batches: the first unwritten id sets a flush deadline
 * DEDUP_FLUSH_MS ahead, which joins the one alarm, and a session that ends
 * flushes at once. What an abrupt crash between two flushes loses is exactly
 * the ids recorded since the last one. Hibernation is not abrupt: the runtime
 * hibernates an object only after seconds of idleness, and the flush alarm
 * fires well within them (docs/PROTOCOL.md gives the figures).
 *
 * In memory a flushed entry keeps only its id, time and row: its frames are
 * read back from storage on the rare repeat.
 */

export interface SeenEntry {
  id: string;
  at: number;
  seq: number;
  /** The frames the request was answered with, in order; null once written (read back on a hit). */
  frames: string[] | null;
  /** An ask whose answer comes later (a paused target, queued work): the frame is added when it is sent. */
  pending: boolean;
  /** The asking connection, for a pending entry's answer. */
  conn: string | null;
}

interface StoredEntry {
  id: string;
  at: number;
  frames: string[];
  pending: boolean;
  conn: string | null;
}

interface Scope {
  byId: Map<string, SeenEntry>;
  /** Oldest first: eviction and expiry take from the front. */
  order: SeenEntry[];
  nextSeq: number;
}

interface PendingRef {
  scope: string;
  entry: SeenEntry;
}

export interface DedupConfig {
  dedupWindowMs: number;
  dedupLimit: number;
  dedupFlushMs: number;
}

/** What a repeat is answered with: the original frames (none for a tell, or for an ask still waiting). */
export interface Repeat {
  frames: string[];
}

const pendingKey = (conn: string, id: string): string => key(conn, id);

export class SeenSet {
  private readonly scopes = new Map<string, Scope>();
  /** Entries recorded or changed since the last flush, by row key. */
  private readonly unwritten = new Map<string, { scope: string; entry: SeenEntry }>();
  /** Rows to delete at the next flush (evicted or expired after they were written). */
  private readonly doomed = new Set<string>();
  /** Scopes to drop from storage entirely at the next flush (sessions that ended). */
  private readonly droppedScopes = new Set<string>();
  /** Pending asks by connection and request id; loaded from storage once per instance. */
  private pending: Map<string, PendingRef> | null = null;
  private readonly pendingGone = new Set<string>();
  private readonly pendingNew = new Map<string, PendingRef>();
  /** When the unwritten entries must be stored; null while nothing is unwritten. */
  flushDue: number | null = null;
  /** Expired scopes are looked for at most once a window, during a flush. */
  private sweepAfter = 0;

  constructor(
    private readonly kv: KvStore,
    private readonly config: DedupConfig,
  ) {}

  get enabled(): boolean {
    return this.config.dedupWindowMs > 0;
  }

  /** Whether `id` was answered in `scope` within the window; its original answer if so. */
  repeat(scope: string, id: string, now: number): Repeat | null {
    const entry = this.scope(scope).byId.get(id);
    if (!entry || now - entry.at >= this.config.dedupWindowMs) return null;
    return { frames: this.framesOf(scope, entry) };
  }

  /** Records a request that was acted on, with the frames it was answered with this turn. */
  record(scope: string, id: string, now: number, frames: string[], pendingConn: string | null): void {
    const s = this.scope(scope);
    const old = s.byId.get(id);
    if (old) this.forget(scope, s, old);
    const entry: SeenEntry = { id, at: now, seq: s.nextSeq++, frames, pending: pendingConn !== null, conn: pendingConn };
    s.byId.set(id, entry);
    s.order.push(entry);
    this.touch(scope, entry, now);
    if (pendingConn !== null) {
      const ref = { scope, entry };
      this.pendingIndex().set(pendingKey(pendingConn, id), ref);
      this.pendingNew.set(pendingKey(pendingConn, id), ref);
    }
    while (s.order.length > this.config.dedupLimit) this.forget(scope, s, s.order[0]!);
  }

  /** Whether a frame sent later may be the answer of a pending ask (cheap: usually none is pending). */
  get awaiting(): boolean {
    return this.pending === null || this.pending.size > 0;
  }

  /**
   * A correlated frame went to `conn` outside the turn of its request: if it
   * answers a pending ask, it becomes that ask's answer. A retryable error
   * means nothing was done, so the id is forgotten and a resend acts afresh.
   */
  settle(conn: string, requestId: string, frame: string, retryable: boolean, now: number): void {
    const index = this.pendingIndex();
    const k = pendingKey(conn, requestId);
    const ref = index.get(k);
    if (!ref) return;
    index.delete(k);
    this.pendingNew.delete(k);
    this.pendingGone.add(k);
    const s = this.scope(ref.scope);
    if (s.byId.get(requestId) !== ref.entry) return;
    if (retryable) {
      this.forget(ref.scope, s, ref.entry);
      this.schedule(now);
      return;
    }
    ref.entry.frames = [...this.framesOf(ref.scope, ref.entry), frame];
    ref.entry.pending = false;
    ref.entry.conn = null;
    this.touch(ref.scope, ref.entry, now);
  }

  /** A session scope whose session ended: no later request can name it, so its rows go. */
  drop(scope: string, now: number): void {
    const s = this.scopes.get(scope);
    for (const entry of s?.order ?? []) {
      this.unwritten.delete(rowKey(scope, entry.seq));
      if (entry.conn === null) continue;
      const k = pendingKey(entry.conn, entry.id);
      this.pending?.delete(k);
      if (!this.pendingNew.delete(k)) this.pendingGone.add(k);
    }
    this.scopes.delete(scope);
    this.droppedScopes.add(scope);
    this.schedule(now);
  }

  /** Writes every unwritten entry and deletes what was evicted, expired or dropped. One storage transaction (the turn's). */
  flush(now: number): void {
    const { kv } = this;
    for (const scope of this.droppedScopes) {
      kv.deletePrefix(NS.dedup, scope + SEP);
      kv.delete(NS.dedupScope, scope);
    }
    this.droppedScopes.clear();
    for (const row of this.doomed) kv.delete(NS.dedup, row);
    this.doomed.clear();
    const touched = new Set<string>();
    for (const [row, { scope, entry }] of this.unwritten) {
      const stored: StoredEntry = { id: entry.id, at: entry.at, frames: entry.frames ?? [], pending: entry.pending, conn: entry.conn };
      kv.put(NS.dedup, row, stored);
      // Written: memory keeps the id, storage the frames.
      entry.frames = null;
      touched.add(scope);
    }
    this.unwritten.clear();
    for (const [k, ref] of this.pendingNew) kv.put(NS.dedupPending, k, { scope: ref.scope, seq: ref.entry.seq });
    this.pendingNew.clear();
    for (const k of this.pendingGone) kv.delete(NS.dedupPending, k);
    this.pendingGone.clear();
    for (const scope of touched) {
      kv.put(NS.dedupScope, scope, now);
      this.expire(scope, now);
    }
    this.flushDue = null;
    if (now >= this.sweepAfter) this.sweep(now);
  }

  // ---------------------------------------------------------------- internals

  private scope(name: string): Scope {
    let s = this.scopes.get(name);
    if (!s) {
      // First use of this scope by this instance (after a wake, or a new session): one read.
      s = { byId: new Map(), order: [], nextSeq: 1 };
      for (const [row, stored] of this.kv.scan<StoredEntry>(NS.dedup, name + SEP)) {
        const seq = parseInt(row.slice(name.length + 1), 36);
        const entry: SeenEntry = { id: stored.id, at: stored.at, seq, frames: null, pending: stored.pending, conn: stored.conn };
        s.byId.set(entry.id, entry);
        s.order.push(entry);
        s.nextSeq = seq + 1;
      }
      this.scopes.set(name, s);
    }
    return s;
  }

  private framesOf(scope: string, entry: SeenEntry): string[] {
    if (entry.frames !== null) return entry.frames;
    return this.kv.get<StoredEntry>(NS.dedup, rowKey(scope, entry.seq))?.frames ?? [];
  }

  private touch(scope: string, entry: SeenEntry, now: number): void {
    this.unwritten.set(rowKey(scope, entry.seq), { scope, entry });
    this.schedule(now);
  }

  private schedule(now: number): void {
    this.flushDue ??= now + this.config.dedupFlushMs;
  }

  private forget(scope: string, s: Scope, entry: SeenEntry): void {
    s.byId.delete(entry.id);
    // The oldest, when the bound evicts: found at once.
    const at = s.order[0] === entry ? 0 : s.order.indexOf(entry);
    if (at >= 0) s.order.splice(at, 1);
    this.unlink(scope, entry);
  }

  /** Its row and its pending-index row go (now if never written, else at the flush). */
  private unlink(scope: string, entry: SeenEntry): void {
    const row = rowKey(scope, entry.seq);
    // Never written: nothing to delete.
    if (!this.unwritten.delete(row)) this.doomed.add(row);
    if (entry.conn !== null) {
      const k = pendingKey(entry.conn, entry.id);
      this.pending?.delete(k);
      if (!this.pendingNew.delete(k)) this.pendingGone.add(k);
    }
  }

  /** Entries past the window are of no use: they are deleted, oldest first. */
  private expire(scope: string, now: number): void {
    const s = this.scopes.get(scope);
    if (!s) return;
    let n = 0;
    while (n < s.order.length && now - s.order[n]!.at >= this.config.dedupWindowMs) n++;
    // One splice for the whole expired head, not one per entry.
    for (const entry of s.order.splice(0, n)) {
      s.byId.delete(entry.id);
      this.unlink(scope, entry);
    }
    for (const row of this.doomed) this.kv.delete(NS.dedup, row);
    this.doomed.clear();
  }

  /** Scopes nobody used for a whole window (identities that never came back, sessions lost with a crash). */
  private sweep(now: number): void {
    this.sweepAfter = now + this.config.dedupWindowMs;
    for (const [scope, lastAt] of this.kv.scan<number>(NS.dedupScope, '')) {
      if (now - lastAt < this.config.dedupWindowMs) continue;
      this.kv.deletePrefix(NS.dedup, scope + SEP);
      this.kv.delete(NS.dedupScope, scope);
      this.scopes.delete(scope);
    }
  }

  private pendingIndex(): Map<string, PendingRef> {
    if (this.pending === null) {
      this.pending = new Map();
      for (const [k, ref] of this.kv.scan<{ scope: string; seq: number }>(NS.dedupPending, '')) {
        const entry = this.scope(ref.scope).order.find((e) => e.seq === ref.seq);
        if (entry && entry.pending) this.pending.set(k, { scope: ref.scope, entry });
      }
    }
    return this.pending;
  }
}

const rowKey = (scope: string, seq: number): string => key(scope, seqKey(seq));
