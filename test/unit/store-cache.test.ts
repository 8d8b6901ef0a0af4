import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MemoryKvStore } from '../../harness/memory-kv-store';
import { MemoryRegistryStore } from '../../harness/memory-registry-store';
import { CachedKvStore } from '../../src/core/kv-cache';
import { RegistryCache } from '../../src/core/registry-cache';
import type { ActorRow } from '../../src/core/registry-store';
import { compareUtf8 } from '../../src/core/sorted-keys';

/**
 * The in-memory registry and subscription copies must answer exactly as the
 * durable store under them would, write everything through, and come back
 * the same when rebuilt from the durable store (a wake). Random operation
 * sequences run against a cache over one store and against a bare second
 * store; every answer must agree, and now and then the cache is thrown away
 * and rebuilt mid-sequence.
 */

const addresses = ['@(a)', '@(a/b)', '@(b)', '@(c/1)', '@(c/2)', '@(\u{1F600})', '@(\uE000)'];
const conns = ['c1', 'c2', 'c3'];

const rowArb = fc.record({
  address: fc.constantFrom(...addresses),
  connId: fc.constantFrom(...conns),
  sessionId: fc.constant('s'),
  capabilities: fc.array(fc.constantFrom('x', 'y'), { maxLength: 2 }),
  metadata: fc.dictionary(fc.constantFrom('k', 'n'), fc.oneof(fc.integer(), fc.string({ maxLength: 3 }))),
  registeredAt: fc.integer({ min: 0, max: 50 }),
  expiresAt: fc.integer({ min: 0, max: 100 }),
  ttlMs: fc.integer({ min: 1, max: 50 }),
  renewalToken: fc.constantFrom('t1', 't2', 't3', 't4', 't5', 't6'),
  version: fc.integer({ min: 1, max: 5 }),
  renewOnHeartbeat: fc.boolean(),
}) satisfies fc.Arbitrary<ActorRow>;

const now = fc.integer({ min: 0, max: 100 });
const registryOp = fc.oneof(
  fc.record({ op: fc.constant('put' as const), row: rowArb }),
  fc.record({ op: fc.constant('get' as const), address: fc.constantFrom(...addresses) }),
  fc.record({ op: fc.constant('delete' as const), address: fc.constantFrom(...addresses) }),
  fc.record({ op: fc.constant('byRenewalToken' as const), token: fc.constantFrom('t1', 't2', 't3', 't9') }),
  fc.record({ op: fc.constant('byConn' as const), conn: fc.constantFrom(...conns) }),
  fc.record({ op: fc.constant('deleteByConn' as const), conn: fc.constantFrom(...conns) }),
  fc.record({ op: fc.constant('countLive' as const), now }),
  fc.record({ op: fc.constant('scanFrom' as const), now, from: fc.constantFrom('', '@(a', '@(c', '@(z') }),
  fc.record({ op: fc.constant('page' as const), now, offset: fc.nat(4), limit: fc.nat(4) }),
  fc.record({ op: fc.constant('renewOnHeartbeat' as const), conn: fc.constantFrom(...conns), now }),
  fc.record({ op: fc.constant('deleteExpired' as const), now }),
  fc.record({ op: fc.constant('nextExpiry' as const) }),
  fc.record({ op: fc.constant('wake' as const) }),
);
type RegistryOp = typeof registryOp extends fc.Arbitrary<infer T> ? T : never;

/** Row order as the SQLite store gives it (its byte order, which the cache must follow). */
const sortRows = (rows: ActorRow[]) => [...rows].sort((a, b) => compareUtf8(a.address, b.address));

const applyRegistry = (store: MemoryRegistryStore | RegistryCache, o: RegistryOp): unknown => {
  try {
    switch (o.op) {
      case 'put':
        return store.put(o.row);
      case 'get':
        return store.get(o.address);
      case 'delete':
        return store.delete(o.address);
      case 'byRenewalToken':
        return store.byRenewalToken(o.token);
      case 'byConn':
        return sortRows(store.byConn(o.conn));
      case 'deleteByConn':
        return store.deleteByConn(o.conn).sort(compareUtf8);
      case 'countLive':
        return store.countLive(o.now);
      // The harness store orders by UTF-16 units, SQLite (and the cache) by bytes: compare as sets in byte order.
      case 'scanFrom':
        return sortRows([...store.scanFrom(o.now, o.from)].filter((r) => compareUtf8(r.address, o.from) >= 0));
      case 'page':
        return sortRows(store.page(o.now, 0, 100)).slice(o.offset, o.offset + o.limit).map((r) => r.address);
      case 'renewOnHeartbeat':
        return store.renewOnHeartbeat(o.conn, o.now);
      case 'deleteExpired':
        return store.deleteExpired(o.now);
      case 'nextExpiry':
        return store.nextExpiry();
      case 'wake':
        return undefined;
    }
  } catch (err) {
    return `threw ${(err as Error).message}`;
  }
};

describe('RegistryCache', () => {
  it('answers like the durable store, writes through, and rebuilds after a wake', () => {
    fc.assert(
      fc.property(fc.array(registryOp, { maxLength: 60 }), (ops) => {
        const durable = new MemoryRegistryStore();
        const reference = new MemoryRegistryStore();
        let cache = new RegistryCache(durable);
        for (const o of ops) {
          if (o.op === 'wake') cache = new RegistryCache(durable);
          expect(applyRegistry(cache, o)).toEqual(applyRegistry(reference, o));
          expect(sortRows(durable.all())).toEqual(sortRows(reference.all()));
        }
        expect(sortRows(cache.all())).toEqual(sortRows(reference.all()));
      }),
      { seed: 11, numRuns: 300 },
    );
  });

  it('orders scans as SQLite does (bytes), page included', () => {
    const cache = new RegistryCache(new MemoryRegistryStore());
    const base = { connId: 'c', sessionId: 's', capabilities: [], metadata: {}, registeredAt: 0, ttlMs: 1, version: 1, renewOnHeartbeat: false };
    ['@(\u{1F600})', '@(\uE000)', '@(a)'].forEach((address, i) => cache.put({ ...base, address, expiresAt: 10, renewalToken: `t${i}` }));
    expect([...cache.scanFrom(0, '')].map((r) => r.address)).toEqual(['@(a)', '@(\uE000)', '@(\u{1F600})']);
    expect(cache.page(0, 1, 5).map((r) => r.address)).toEqual(['@(\uE000)', '@(\u{1F600})']);
  });

  it('hands out frozen rows, so a caller cannot change the registry behind its back', () => {
    const cache = new RegistryCache(new MemoryRegistryStore());
    cache.put({ address: '@(a)', connId: 'c', sessionId: 's', capabilities: ['x'], metadata: { n: { m: 1 } }, registeredAt: 0, expiresAt: 10, ttlMs: 1, renewalToken: 't', version: 1, renewOnHeartbeat: false });
    const row = cache.get('@(a)')!;
    expect(() => ((row as { expiresAt: number }).expiresAt = 99)).toThrow(TypeError);
    expect(() => (row.capabilities as string[]).push('y')).toThrow(TypeError);
  });

  it('leaves memory unchanged when the durable write throws', () => {
    const durable = new MemoryRegistryStore();
    const cache = new RegistryCache(durable);
    const row = { address: '@(a)', connId: 'c', sessionId: 's', capabilities: [], metadata: {}, registeredAt: 0, expiresAt: 10, ttlMs: 1, renewalToken: 't', version: 1, renewOnHeartbeat: false };
    cache.put(row);
    expect(() => cache.put({ ...row, address: '@(b)' })).toThrow(/UNIQUE/);
    expect(cache.get('@(b)')).toBeNull();
    expect(cache.byRenewalToken('t')?.address).toBe('@(a)');
  });
});

const kvOp = fc.oneof(
  fc.record({ op: fc.constant('put' as const), ns: fc.constantFrom('sub', 'other'), key: fc.constantFrom('a', 'a\u0001x', 'a\u0001y', 'b', 'b\u0001\u{1F600}'), value: fc.oneof(fc.string({ maxLength: 3 }), fc.record({ n: fc.integer() })) }),
  fc.record({ op: fc.constant('get' as const), ns: fc.constantFrom('sub', 'other'), key: fc.constantFrom('a', 'a\u0001x', 'b', 'zz') }),
  fc.record({ op: fc.constant('delete' as const), ns: fc.constantFrom('sub', 'other'), key: fc.constantFrom('a', 'a\u0001x', 'b') }),
  fc.record({ op: fc.constant('scan' as const), ns: fc.constantFrom('sub', 'other'), prefix: fc.constantFrom('', 'a', 'a\u0001', 'b\u0001'), limit: fc.integer({ min: -1, max: 3 }) }),
  fc.record({ op: fc.constant('count' as const), ns: fc.constantFrom('sub', 'other'), prefix: fc.constantFrom('', 'a', 'b\u0001') }),
  fc.record({ op: fc.constant('deletePrefix' as const), ns: fc.constantFrom('sub', 'other'), prefix: fc.constantFrom('a\u0001', 'b') }),
  fc.record({ op: fc.constant('wake' as const) }),
);
type KvOp = typeof kvOp extends fc.Arbitrary<infer T> ? T : never;

const applyKv = (store: MemoryKvStore | CachedKvStore, o: KvOp): unknown => {
  switch (o.op) {
    case 'put':
      return store.put(o.ns, o.key, o.value);
    case 'get':
      return store.get(o.ns, o.key);
    case 'delete':
      return store.delete(o.ns, o.key);
    case 'scan':
      return store.scan(o.ns, o.prefix, o.limit);
    case 'count':
      return store.count(o.ns, o.prefix);
    case 'deletePrefix':
      return store.deletePrefix(o.ns, o.prefix);
    case 'wake':
      return undefined;
  }
};

describe('CachedKvStore', () => {
  it('answers like the durable store in cached and passed-through namespaces, and rebuilds after a wake', () => {
    fc.assert(
      fc.property(fc.array(kvOp, { maxLength: 60 }), (ops) => {
        const durable = new MemoryKvStore();
        const reference = new MemoryKvStore();
        let cache = new CachedKvStore(durable, new Set(['sub']));
        for (const o of ops) {
          if (o.op === 'wake') cache = new CachedKvStore(durable, new Set(['sub']));
          expect(applyKv(cache, o)).toEqual(applyKv(reference, o));
        }
        for (const ns of ['sub', 'other']) expect(durable.scan(ns, '')).toEqual(reference.scan(ns, ''));
      }),
      { seed: 12, numRuns: 300 },
    );
  });
});
