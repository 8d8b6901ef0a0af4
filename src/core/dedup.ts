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
 * flushes at once. A flush writes one row per scope (a chunk of every entry
 * recorded or changed since the last one, cut at CHUNK_BYTES), not one per
 * id. What an abrupt crash between two flushes loses is exactly the ids
 * recorded since the last one. Hibernation is not abrupt: the runtime
 * hibernates an object only after seconds of idleness, and the flush alarm
 * fires well within them (docs/PROTOCOL.md gives the figures).
 *
 * In memory a written entry keeps only its id, time and chunk: its frames
 * are read back from storage on the rare repeat. Storage is read back with
 * the rules memory follows (the later version of an entry wins, expired
 * ones and those beyond the bound are dropped), so a chunk row only goes
 * once none of its entries is in force.
 */

type Status = 'answered' | 'pending' | 'retry';

interface SeenEntry {
  id: string;
  seq: number;
  at: number;
  /** The frames the request was answered with, in order; null once written (read back on a hit). */
  frames: string[] | null;
  /**
   * answered: a repeat gets `frames`. pending: an ask whose answer comes later
   * (a paused target, queued work); its frame is added when sent. retry: it
   * was refused with a retryable error after all, so a repeat is handled anew.
   */
  status: Status;
  /** The asking connection, while pending. */
  conn: string | null;
  /** The chunk row holding its latest written version; null while unwritten. */
  chunk: number | null;
}

interface StoredEntry {
  id: string;
  seq: number;
  at: number;
  frames: string[];
  status: Status;
  conn: string | null;
}

interface Scope {
  byId: Map<string, SeenEntry>;
  /** By seq, oldest first: eviction and expiry take from the front. */
  order: SeenEntry[];
  nextSeq: number;
  nextChunk: number;
  /** Entries in force per written chunk; a chunk at zero is deleted. */
  live: Map<number, number>;
  /**
   * What the next flush writes: every entry of `order` above this seq (new
   * since the last flush, at its tail), plus `changed`. Kept this way rather
   * than as a set of unwritten entries, which cost a set insert and delete
   * per request on the hot path.
   */
  writtenSeq: number;
  /** Entries already written whose status or connection changed since (settled, moved asks): rare. */
  changed: Set<SeenEntry>;
  /** Listed in `dirtyScopes`. */
  dirty: boolean;
}

/** What `repeat` last found missing (scope null: nothing), for `record` of the same request. */
interface Miss {
  scope: string | null;
  id: string;
  s: Scope | null;
  old: SeenEntry | undefined;
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

/** A chunk row stays well below the storage's row limit (2 MB); a busy scope's flush writes several. */
const CHUNK_BYTES = 512 * 1024;
const ENTRY_OVERHEAD = 96;

const pendingKey = (conn: string, id: string): string => key(conn, id);
const rowKey = (scope: string, chunk: number): string => key(scope, seqKey(chunk));

export class SeenSet {
  private readonly scopes = new Map<string, Scope>();
  /** Scopes with entries recorded or changed since the last flush. */
  private readonly dirtyScopes = new Set<string>();
  /**
   * The last miss of `repeat`: `record` of the same request follows it in the
   * same turn, and reuses its lookups instead of repeating them (two map
   * lookups per request). Cleared by anything that removes entries.
   */
  private miss: Miss = { scope: null, id: '', s: null, old: undefined };
  /** Chunk rows to delete at the next flush. */
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
    const s = this.scope(scope, now);
    const entry = s.byId.get(id);
    if (!entry || entry.status === 'retry' || now - entry.at >= this.config.dedupWindowMs) {
      // Reused, not allocated: this runs for every idempotent request.
      const miss = this.miss;
      miss.scope = scope;
      miss.id = id;
      miss.s = s;
      miss.old = entry;
      return null;
    }
    return { frames: this.framesOf(scope, entry) };
  }

  /** Records a request that was acted on, with the frames it was answered with this turn. */
  record(scope: string, id: string, now: number, frames: string[], pendingConn: string | null): void {
    const miss = this.miss;
    const known = miss.scope === scope && miss.id === id;
    const s = known ? miss.s! : this.scope(scope, now);
    const old = known ? miss.old : s.byId.get(id);
    this.forgetMiss();
    if (old) this.forget(scope, s, old);
    const status: Status = pendingConn !== null ? 'pending' : 'answered';
    const entry: SeenEntry = { id, seq: s.nextSeq++, at: now, frames, status, conn: pendingConn, chunk: null };
    s.byId.set(id, entry);
    s.order.push(entry);
    this.touch(scope, s, entry, now);
    if (pendingConn !== null) {
      const ref = { scope, entry };
      this.pendingIndex(now).set(pendingKey(pendingConn, id), ref);
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
   * means nothing was done, so a resend is handled afresh.
   */
  settle(conn: string, requestId: string, frame: string, retryable: boolean, now: number): void {
    const index = this.pendingIndex(now);
    const k = pendingKey(conn, requestId);
    const ref = index.get(k);
    if (!ref) return;
    index.delete(k);
    if (!this.pendingNew.delete(k)) this.pendingGone.add(k);
    const { entry } = ref;
    if (this.scopes.get(ref.scope)?.byId.get(requestId) !== entry) return;
    // A pending entry was recorded with no frames (idempotency.ts records an ask as waiting only
    // when its turn sent nothing), so its answer is this one frame. Reading a written entry's
    // frames back here would cost a chunk read per settled ask: O(n²) for n asks settled at once,
    // as when a resumed session's mailbox acknowledges a thousand of them.
    entry.frames = retryable ? [] : entry.frames !== null && entry.frames.length > 0 ? [...entry.frames, frame] : [frame];
    entry.status = retryable ? 'retry' : 'answered';
    entry.conn = null;
    const s = this.scopes.get(ref.scope);
    if (s) this.touch(ref.scope, s, entry, now);
  }

  /**
   * A session resumed on a new connection (resume.ts readdresses the acks
   * owed to it): its asks still waiting for their answer wait on that
   * connection now, so the answer sent there settles them.
   */
  moveConn(old: string, conn: string, now: number): void {
    if (!this.awaiting) return;
    const index = this.pendingIndex(now);
    const prefix = old + SEP;
    for (const [k, ref] of [...index]) {
      if (!k.startsWith(prefix)) continue;
      index.delete(k);
      if (!this.pendingNew.delete(k)) this.pendingGone.add(k);
      const moved = pendingKey(conn, ref.entry.id);
      ref.entry.conn = conn;
      index.set(moved, ref);
      this.pendingNew.set(moved, ref);
      const s = this.scopes.get(ref.scope);
      if (s) this.touch(ref.scope, s, ref.entry, now);
    }
  }

  /** A session scope whose session ended: no later request can name it, so its rows go. */
  drop(scope: string, now: number): void {
    for (const entry of this.scopes.get(scope)?.order ?? []) {
      if (entry.conn === null) continue;
      const k = pendingKey(entry.conn, entry.id);
      this.pending?.delete(k);
      if (!this.pendingNew.delete(k)) this.pendingGone.add(k);
    }
    this.scopes.delete(scope);
    this.dirtyScopes.delete(scope);
    this.forgetMiss();
    this.droppedScopes.add(scope);
    this.schedule(now);
  }

  /** Writes one chunk row per scope with unwritten entries and deletes what is no longer in force. One turn, so one transaction. */
  flush(now: number): void {
    const { kv } = this;
    for (const scope of this.droppedScopes) {
      kv.deletePrefix(NS.dedup, scope + SEP);
      kv.delete(NS.dedupScope, scope);
    }
    this.droppedScopes.clear();
    this.forgetMiss();
    for (const scope of this.dirtyScopes) {
      const s = this.scopes.get(scope);
      if (!s) continue;
      this.writeChunks(scope, s, this.unwrittenOf(s));
      s.writtenSeq = s.nextSeq - 1;
      s.changed.clear();
      s.dirty = false;
      kv.put(NS.dedupScope, scope, now);
      this.expire(scope, s, now);
    }
    this.dirtyScopes.clear();
    for (const row of this.doomed) kv.delete(NS.dedup, row);
    this.doomed.clear();
    for (const [k, ref] of this.pendingNew) kv.put(NS.dedupPending, k, { scope: ref.scope, seq: ref.entry.seq });
    this.pendingNew.clear();
    for (const k of this.pendingGone) kv.delete(NS.dedupPending, k);
    this.pendingGone.clear();
    this.flushDue = null;
    if (now >= this.sweepAfter) this.sweep(now);
  }

  // ---------------------------------------------------------------- internals

  private forgetMiss(): void {
    const miss = this.miss;
    miss.scope = null;
    miss.s = null;
    miss.old = undefined;
  }

  /** In seq order: the changed written entries (all at or below writtenSeq), then the new tail of `order`. */
  private unwrittenOf(s: Scope): SeenEntry[] {
    let from = s.order.length;
    while (from > 0 && s.order[from - 1]!.seq > s.writtenSeq) from--;
    const changed = s.changed.size > 0 ? [...s.changed].sort((a, b) => a.seq - b.seq) : [];
    return changed.concat(s.order.slice(from));
  }

  private writeChunks(scope: string, s: Scope, entries: SeenEntry[]): void {
    let batch: SeenEntry[] = [];
    let bytes = 0;
    const cut = () => {
      if (batch.length === 0) return;
      const chunk = s.nextChunk++;
      const stored: StoredEntry[] = batch.map((e) => ({
        id: e.id,
        seq: e.seq,
        at: e.at,
        frames: e.frames ?? this.framesOf(scope, e),
        status: e.status,
        conn: e.conn,
      }));
      this.kv.put(NS.dedup, rowKey(scope, chunk), stored);
      for (const e of batch) {
        if (e.chunk !== null) this.release(scope, s, e.chunk);
        e.chunk = chunk;
        // Written: memory keeps the id, storage the frames.
        e.frames = null;
      }
      s.live.set(chunk, batch.length);
      batch = [];
      bytes = 0;
    };
    for (const e of entries) {
      const size = ENTRY_OVERHEAD + e.id.length + (e.frames ?? []).reduce((n, f) => n + f.length, 0);
      if (bytes + size > CHUNK_BYTES) cut();
      batch.push(e);
      bytes += size;
    }
    cut();
  }

  /** One entry of `chunk` is no longer in force there; an empty chunk's row goes at the flush. */
  private release(scope: string, s: Scope, chunk: number): void {
    const left = (s.live.get(chunk) ?? 1) - 1;
    if (left > 0) {
      s.live.set(chunk, left);
      return;
    }
    s.live.delete(chunk);
    // Deleted by whichever flush comes next; until then a read-back ignores it (nothing in it is in force).
    this.doomed.add(rowKey(scope, chunk));
  }

  /**
   * First use of this scope by this instance (after a wake, or a new
   * session): one read, applying the rules memory applies.
   */
  private scope(name: string, now: number): Scope {
    let s = this.scopes.get(name);
    if (s) return s;
    s = { byId: new Map(), order: [], nextSeq: 1, nextChunk: 1, live: new Map(), writtenSeq: 0, changed: new Set(), dirty: false };
    const latest = new Map<string, { stored: StoredEntry; chunk: number }>();
    const chunks: number[] = [];
    for (const [row, stored] of this.kv.scan<StoredEntry[]>(NS.dedup, name + SEP)) {
      const chunk = parseInt(row.slice(name.length + 1), 36);
      chunks.push(chunk);
      s.nextChunk = chunk + 1;
      for (const e of stored) {
        const seen = latest.get(e.id);
        // Rows come in chunk order: a later chunk's version of the same entry, or a later entry of the same id, wins.
        if (!seen || e.seq >= seen.stored.seq) latest.set(e.id, { stored: e, chunk });
        s.nextSeq = Math.max(s.nextSeq, e.seq + 1);
      }
    }
    const kept = [...latest.values()]
      .filter(({ stored }) => now - stored.at < this.config.dedupWindowMs)
      .sort((a, b) => a.stored.seq - b.stored.seq)
      .slice(-this.config.dedupLimit);
    for (const { stored, chunk } of kept) {
      const entry: SeenEntry = { id: stored.id, seq: stored.seq, at: stored.at, frames: null, status: stored.status, conn: stored.conn, chunk };
      s.byId.set(entry.id, entry);
      s.order.push(entry);
      s.live.set(chunk, (s.live.get(chunk) ?? 0) + 1);
    }
    for (const chunk of chunks) if (!s.live.has(chunk)) this.doomed.add(rowKey(name, chunk));
    // Everything read back is written; only what comes after it is not.
    s.writtenSeq = s.nextSeq - 1;
    this.scopes.set(name, s);
    return s;
  }

  private framesOf(scope: string, entry: SeenEntry): string[] {
    if (entry.frames !== null) return entry.frames;
    if (entry.chunk === null) return [];
    const stored = this.kv.get<StoredEntry[]>(NS.dedup, rowKey(scope, entry.chunk));
    return stored?.find((e) => e.seq === entry.seq)?.frames ?? [];
  }

  /** `entry` is new or changed: the next flush writes it (a new one through writtenSeq, a written one through `changed`). */
  private touch(scope: string, s: Scope, entry: SeenEntry, now: number): void {
    if (entry.seq <= s.writtenSeq) s.changed.add(entry);
    if (!s.dirty) {
      s.dirty = true;
      this.dirtyScopes.add(scope);
    }
    this.schedule(now);
  }

  private schedule(now: number): void {
    this.flushDue ??= now + this.config.dedupFlushMs;
  }

  private forget(scope: string, s: Scope, entry: SeenEntry): void {
    // The oldest, when the bound evicts: found at once, and taken with shift(), which V8 does in
    // place; splice(0, 1) copies the array, ~19 µs at DEDUP_LIMIT 1000, on every request of a
    // session past its first thousand.
    if (s.order[0] === entry) s.order.shift();
    else {
      const at = s.order.indexOf(entry);
      if (at >= 0) s.order.splice(at, 1);
    }
    this.unlink(scope, s, entry);
  }

  /** Out of memory's index: its chunk loses one entry in force, its pending row goes. */
  private unlink(scope: string, s: Scope, entry: SeenEntry): void {
    if (s.byId.get(entry.id) === entry) s.byId.delete(entry.id);
    if (s.changed.size > 0) s.changed.delete(entry);
    this.forgetMiss();
    if (entry.chunk !== null) this.release(scope, s, entry.chunk);
    if (entry.conn !== null) {
      const k = pendingKey(entry.conn, entry.id);
      this.pending?.delete(k);
      if (!this.pendingNew.delete(k)) this.pendingGone.add(k);
    }
  }

  /** Entries past the window are of no use: the expired head goes in one splice. */
  private expire(scope: string, s: Scope, now: number): void {
    let n = 0;
    while (n < s.order.length && now - s.order[n]!.at >= this.config.dedupWindowMs) n++;
    for (const entry of s.order.splice(0, n)) this.unlink(scope, s, entry);
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

  private pendingIndex(now: number): Map<string, PendingRef> {
    if (this.pending === null) {
      this.pending = new Map();
      for (const [k, ref] of this.kv.scan<{ scope: string; seq: number }>(NS.dedupPending, '')) {
        const entry = this.scope(ref.scope, now).order.find((e) => e.seq === ref.seq);
        if (entry && entry.status === 'pending') this.pending.set(k, { scope: ref.scope, entry });
      }
    }
    return this.pending;
  }
}
