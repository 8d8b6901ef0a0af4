/**
 * A small ordered key-value port for the hub's shared state besides the
 * registry: subscriptions, pause buffers and queued fan-out. Keys sort as
 * plain strings within a namespace, so prefix scans return rows in order.
 * Synchronous for the same reason as the registry store.
 */
export interface KvStore {
  get<T>(ns: string, key: string): T | null;
  put(ns: string, key: string, value: unknown): void;
  delete(ns: string, key: string): void;
  /** Rows whose key starts with `prefix`, in key order, at most `limit`. */
  scan<T>(ns: string, prefix: string, limit?: number): [string, T][];
  count(ns: string, prefix: string): number;
  deletePrefix(ns: string, prefix: string): number;
}

/** Separates the parts of a compound key; no topic, id or address contains it. */
export const SEP = '\u0001';
export const key = (...parts: (string | number)[]): string => parts.map(String).join(SEP);
/** Sequence numbers as fixed-width text so string order is numeric order. */
export const seqKey = (n: number): string => n.toString(36).padStart(11, '0');
