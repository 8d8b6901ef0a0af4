import type { KvStore } from '../src/core/kv-store';

/** The fake object's ordered key-value store; values are kept as JSON text like SQLite keeps them. */
export class MemoryKvStore implements KvStore {
  private readonly spaces = new Map<string, Map<string, string>>();

  private space(ns: string): Map<string, string> {
    let s = this.spaces.get(ns);
    if (!s) {
      s = new Map();
      this.spaces.set(ns, s);
    }
    return s;
  }

  private keys(ns: string, prefix: string): string[] {
    return [...this.space(ns).keys()].filter((k) => k.startsWith(prefix)).sort();
  }

  get<T>(ns: string, key: string): T | null {
    const v = this.space(ns).get(key);
    return v === undefined ? null : (JSON.parse(v) as T);
  }

  put(ns: string, key: string, value: unknown): void {
    this.space(ns).set(key, JSON.stringify(value));
  }

  delete(ns: string, key: string): void {
    this.space(ns).delete(key);
  }

  scan<T>(ns: string, prefix: string, limit = -1): [string, T][] {
    const keys = this.keys(ns, prefix);
    const picked = limit < 0 ? keys : keys.slice(0, limit);
    return picked.map((k) => [k, JSON.parse(this.space(ns).get(k)!) as T]);
  }

  count(ns: string, prefix: string): number {
    return this.keys(ns, prefix).length;
  }

  deletePrefix(ns: string, prefix: string): number {
    const keys = this.keys(ns, prefix);
    for (const k of keys) this.space(ns).delete(k);
    return keys.length;
  }
}
