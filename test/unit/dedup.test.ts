import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SeenSet } from '../../src/core/dedup';
import type { KvStore } from '../../src/core/kv-store';
import { NS } from '../../src/core/namespaces';
import { MemoryKvStore } from '../../harness/memory-kv-store';

/** The memory store, counting writes, so a test can say how many a request cost. */
class CountingKv extends MemoryKvStore implements KvStore {
  writes = 0;
  override put(ns: string, key: string, value: unknown): void {
    this.writes++;
    super.put(ns, key, value);
  }
  override delete(ns: string, key: string): void {
    this.writes++;
    super.delete(ns, key);
  }
  override deletePrefix(ns: string, prefix: string): number {
    this.writes++;
    return super.deletePrefix(ns, prefix);
  }
}

const CONFIG = { dedupWindowMs: 60_000, dedupLimit: 5, dedupFlushMs: 200 };

describe('SeenSet', () => {
  it('answers a repeat within the window with the original frames, and forgets it after', () => {
    const seen = new SeenSet(new MemoryKvStore(), CONFIG);
    expect(seen.repeat('s:1', 'a', 0)).toBeNull();
    seen.record('s:1', 'a', 0, ['{"reply":1}'], null);
    expect(seen.repeat('s:1', 'a', 59_999)).toEqual({ frames: ['{"reply":1}'] });
    expect(seen.repeat('s:1', 'a', 60_000)).toBeNull();
    // Another scope never sees it.
    expect(seen.repeat('s:2', 'a', 1)).toBeNull();
  });

  it('records without writing storage, and writes one row per scope at the flush', () => {
    const kv = new CountingKv();
    const seen = new SeenSet(kv, CONFIG);
    for (let i = 0; i < 4; i++) seen.record('s:1', `id-${i}`, 10 + i, [`frame-${i}`], null);
    expect(kv.writes).toBe(0);
    // The first unwritten id set the deadline; later ones do not move it.
    expect(seen.flushDue).toBe(210);
    seen.flush(210);
    expect(seen.flushDue).toBeNull();
    // One row for the scope's whole batch (a chunk), not one per id.
    expect(kv.scan(NS.dedup, '')).toHaveLength(1);
    expect(kv.writes).toBe(2); // the chunk and the scope's last-use row
    // A fresh instance over the same storage (a wake) knows every flushed id and its frames.
    const woken = new SeenSet(kv, CONFIG);
    expect(woken.repeat('s:1', 'id-2', 500)).toEqual({ frames: ['frame-2'] });
  });

  it('an instance thrown away before its flush forgets what it had not written (the stated exposure)', () => {
    const kv = new MemoryKvStore();
    const seen = new SeenSet(kv, CONFIG);
    seen.record('s:1', 'early', 0, ['e'], null);
    seen.flush(200);
    seen.record('s:1', 'late', 250, ['l'], null);
    const woken = new SeenSet(kv, CONFIG);
    expect(woken.repeat('s:1', 'early', 300)).toEqual({ frames: ['e'] });
    expect(woken.repeat('s:1', 'late', 300)).toBeNull();
  });

  it('keeps at most DEDUP_LIMIT ids per scope, evicting the oldest, in memory and in storage', () => {
    const kv = new MemoryKvStore();
    const seen = new SeenSet(kv, CONFIG);
    for (let i = 0; i < 8; i++) {
      seen.record('s:1', `id-${i}`, i, [`f${i}`], null);
      if (i === 3) seen.flush(i);
    }
    seen.flush(100);
    for (let i = 0; i < 3; i++) expect(seen.repeat('s:1', `id-${i}`, 100)).toBeNull();
    for (let i = 3; i < 8; i++) expect(seen.repeat('s:1', `id-${i}`, 100)).toEqual({ frames: [`f${i}`] });
    // Read back by a new instance, storage says the same.
    const woken = new SeenSet(kv, CONFIG);
    for (let i = 0; i < 8; i++) expect(woken.repeat('s:1', `id-${i}`, 100)).toEqual(i < 3 ? null : { frames: [`f${i}`] });
    // Both chunks still hold an id in force (id-3 in the first); a third batch evicting id-3 deletes the first.
    expect(kv.scan(NS.dedup, '')).toHaveLength(2);
    seen.record('s:1', 'id-8', 200, ['f8'], null);
    seen.flush(300);
    expect(kv.scan(NS.dedup, '')).toHaveLength(2);
  });

  it('a pending ask takes the answer sent later; a retryable refusal forgets it', () => {
    const kv = new MemoryKvStore();
    const seen = new SeenSet(kv, CONFIG);
    seen.record('s:1', 'ask-1', 0, [], 'conn-1');
    seen.record('s:1', 'ask-2', 0, [], 'conn-1');
    expect(seen.awaiting).toBe(true);
    expect(seen.repeat('s:1', 'ask-1', 1)).toEqual({ frames: [] });
    seen.flush(200);
    // After a wake the pending index is read back once.
    const woken = new SeenSet(kv, CONFIG);
    woken.settle('conn-1', 'ask-1', 'ack-1', false, 300);
    woken.settle('conn-1', 'ask-2', 'unknown-actor', true, 300);
    woken.settle('conn-9', 'ask-1', 'not-for-it', false, 300);
    expect(woken.repeat('s:1', 'ask-1', 301)).toEqual({ frames: ['ack-1'] });
    expect(woken.repeat('s:1', 'ask-2', 301)).toBeNull();
    woken.flush(500);
    expect(woken.awaiting).toBe(false);
    expect(kv.scan(NS.dedupPending, '')).toHaveLength(0);
    expect(new SeenSet(kv, CONFIG).repeat('s:1', 'ask-1', 600)).toEqual({ frames: ['ack-1'] });
  });

  it('drops the rows of an ended session scope, and sweeps scopes idle for a window', () => {
    const kv = new MemoryKvStore();
    const seen = new SeenSet(kv, CONFIG);
    seen.record('s:1', 'a', 0, ['x'], null);
    seen.record('i:@(u)', 'b', 0, ['y'], null);
    seen.flush(200);
    seen.drop('s:1', 300);
    seen.flush(500);
    expect(kv.scan(NS.dedup, 's:1')).toHaveLength(0);
    expect(kv.scan(NS.dedup, 'i:')).toHaveLength(1);
    // A flush a window later sweeps the identity nobody used since.
    seen.record('s:2', 'c', 70_000, ['z'], null);
    seen.flush(70_200);
    expect(kv.scan(NS.dedup, 'i:')).toHaveLength(0);
    expect(kv.scan(NS.dedupScope, '').map(([k]) => k)).toEqual(['s:2']);
  });

  it('matches a model of the promise on random histories (repeat answered iff recorded within the window and among the last DEDUP_LIMIT)', () => {
    type Op = { kind: 'record' | 'repeat'; id: number; dt: number } | { kind: 'flush' | 'wake'; dt: number };
    const op: fc.Arbitrary<Op> = fc.oneof(
      fc.record({ kind: fc.constantFrom('record' as const, 'repeat' as const), id: fc.integer({ min: 0, max: 9 }), dt: fc.integer({ min: 0, max: 30_000 }) }),
      fc.record({ kind: fc.constantFrom('flush' as const, 'wake' as const), dt: fc.integer({ min: 0, max: 1000 }) }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
        const kv = new MemoryKvStore();
        let seen = new SeenSet(kv, CONFIG);
        let now = 0;
        // The model: what was recorded, in order, and what has been flushed.
        let log: { id: string; at: number; frame: string; flushed: boolean }[] = [];
        for (const o of ops) {
          now += o.dt;
          if (o.kind === 'flush') {
            seen.flush(now);
            log = log.map((e) => ({ ...e, flushed: true }));
          } else if (o.kind === 'wake') {
            // Abrupt: what was not flushed is gone, the rest survives.
            seen = new SeenSet(kv, CONFIG);
            log = log.filter((e) => e.flushed);
          } else if (o.kind === 'record' || o.kind === 'repeat') {
            const id = `id-${o.id}`;
            const live = log.filter((e) => now - e.at < CONFIG.dedupWindowMs);
            const expected = live.slice(-CONFIG.dedupLimit).find((e) => e.id === id) ?? null;
            const actual = seen.repeat('s:1', id, now);
            if (o.kind === 'repeat') {
              expect(actual).toEqual(expected ? { frames: [expected.frame] } : null);
            } else if (actual === null) {
              const frame = `f-${o.id}-${now}`;
              seen.record('s:1', id, now, [frame], null);
              log = log.filter((e) => e.id !== id);
              log.push({ id, at: now, frame, flushed: false });
            }
          }
        }
      }),
      { numRuns: 300 },
    );
  });
});
