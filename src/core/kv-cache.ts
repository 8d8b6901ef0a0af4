import type { KvStore } from './kv-store';
import { SortedKeys, storedCopy } from './sorted-keys';

interface Space {
  values: Map<string, unknown>;
  order: SortedKeys;
}

/**
 * The key-value port with some namespaces held entirely in memory and
 * written through to the durable store: the subscriptions, which every
 * hub:publish scans and every subscribe, unsubscribe and close reads.
 * Other namespaces (pause buffers, fan-out jobs, counters) pass straight
 * through: they are written far more than they are read, and their reads
 * already sit on paths that write.
 *
 * Same lifetime and write order as RegistryCache: one per HubCore, loaded per
 * namespace on first use (so after every wake), durable write first, memory
 * after it returned. Synchronous like the SQLite API under it. Values handed
 * out are frozen copies shaped exactly as a JSON round trip through storage
 * would shape them.
 */
export class CachedKvStore implements KvStore {
  private readonly spaces = new Map<string, Space>();

  constructor(
    private readonly durable: KvStore,
    private readonly cached: ReadonlySet<string>,
  ) {}

  private space(ns: string): Space | null {
    if (!this.cached.has(ns)) return null;
    let space = this.spaces.get(ns);
    if (!space) {
      const values = new Map<string, unknown>();
      for (const [k, v] of this.durable.scan<unknown>(ns, '')) values.set(k, storedCopy(v));
      space = { values, order: new SortedKeys(() => values.keys()) };
      this.spaces.set(ns, space);
    }
    return space;
  }

  /** Keys with the prefix, in storage order. The contract is "starts with", and that is what is matched. */
  private keysWith(space: Space, prefix: string, limit: number): string[] {
    const keys = space.order.all();
    const out: string[] = [];
    for (let i = space.order.lowerBound(prefix); i < keys.length && out.length !== limit; i++) {
      if (!keys[i]!.startsWith(prefix)) break;
      out.push(keys[i]!);
    }
    return out;
  }

  get<T>(ns: string, key: string): T | null {
    const space = this.space(ns);
    if (!space) return this.durable.get<T>(ns, key);
    return (space.values.get(key) as T | undefined) ?? null;
  }

  put(ns: string, key: string, value: unknown): void {
    const space = this.space(ns);
    this.durable.put(ns, key, value);
    if (!space) return;
    const added = !space.values.has(key);
    space.values.set(key, storedCopy(value));
    if (added) space.order.add(key);
  }

  delete(ns: string, key: string): void {
    const space = this.space(ns);
    this.durable.delete(ns, key);
    if (space?.values.delete(key)) space.order.remove(key);
  }

  scan<T>(ns: string, prefix: string, limit = -1): [string, T][] {
    const space = this.space(ns);
    if (!space) return this.durable.scan<T>(ns, prefix, limit);
    return this.keysWith(space, prefix, limit).map((k) => [k, space.values.get(k) as T]);
  }

  count(ns: string, prefix: string): number {
    const space = this.space(ns);
    if (!space) return this.durable.count(ns, prefix);
    return prefix === '' ? space.values.size : this.keysWith(space, prefix, -1).length;
  }

  deletePrefix(ns: string, prefix: string): number {
    const space = this.space(ns);
    const n = this.durable.deletePrefix(ns, prefix);
    if (!space) return n;
    const gone = this.keysWith(space, prefix, -1);
    for (const k of gone) space.values.delete(k);
    if (gone.length > 0) space.order.invalidate();
    return n;
  }
}
