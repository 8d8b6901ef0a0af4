/**
 * Ordering helpers for the in-memory copies of stored tables
 * (registry-cache.ts, kv-cache.ts): they must hand rows out in the order the
 * SQLite store does, or discovery, listing and fan-out would change order
 * depending on whether the object was just woken.
 */

/**
 * Compares strings the way SQLite's BINARY collation compares their UTF-8
 * bytes, i.e. by code point. Plain `<` compares UTF-16 code units, which
 * disagrees only when a surrogate (a code point above U+FFFF) meets a unit in
 * U+E000..U+FFFF; those two ranges are swapped before comparing.
 */
export const compareUtf8 = (a: string, b: string): number => {
  if (a === b) return 0;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x === y) continue;
    if (x >= 0xd800 && y >= 0xd800) {
      x = x >= 0xe000 ? x - 0x800 : x + 0x2000;
      y = y >= 0xe000 ? y - 0x800 : y + 0x2000;
    }
    return x < y ? -1 : 1;
  }
  return a.length - b.length;
};

/**
 * A sorted list of keys, built on first use. A single key added or removed
 * is put in or taken out at its place (a binary search and one splice);
 * only a bulk change (`invalidate`) makes the next scan sort again. Sorting
 * anew after every insert made a room's N subscribes or registrations cost
 * O(N² log N) in all, since each one also scans (issue 11).
 */
export class SortedKeys {
  private keys: string[] | null = null;

  constructor(private readonly source: () => Iterable<string>) {}

  invalidate(): void {
    this.keys = null;
  }

  /** A key new to the source. */
  add(key: string): void {
    if (this.keys === null) return;
    this.keys.splice(this.lowerBound(key), 0, key);
  }

  /** A key gone from the source. */
  remove(key: string): void {
    if (this.keys === null) return;
    const at = this.lowerBound(key);
    if (this.keys[at] === key) this.keys.splice(at, 1);
    else this.keys = null;
  }

  all(): readonly string[] {
    this.keys ??= [...this.source()].sort(compareUtf8);
    return this.keys;
  }

  /** Index of the first key that sorts at or after `from`. */
  lowerBound(from: string): number {
    const keys = this.all();
    let lo = 0;
    let hi = keys.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (compareUtf8(keys[mid]!, from) < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

/** Deep-freezes what a cache hands out, so a caller that mutates a shared row fails loudly instead of corrupting it. */
export const deepFreeze = <T>(value: T): T => {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
};

/** What a value looks like after a trip through the JSON text SQLite stores, frozen. */
export const storedCopy = <T>(value: T): T => deepFreeze(JSON.parse(JSON.stringify(value)) as T);
