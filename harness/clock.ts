/** A clock that moves only when told to, so a replayed trace sees the same times. */
export class SimClock {
  constructor(private current = 1_700_000_000_000) {}
  now(): number {
    return this.current;
  }
  advance(ms: number): number {
    if (ms < 0) throw new Error('a simulated clock never goes backwards');
    this.current += ms;
    return this.current;
  }
  set(at: number): void {
    if (at < this.current) throw new Error('a simulated clock never goes backwards');
    this.current = at;
  }
}

/** Deterministic ids and tokens: a counter behind a seed, readable in traces. */
export class SeededIds {
  private n = 0;
  constructor(private readonly seed = 1) {}
  id(): string {
    this.n++;
    return `id-${this.seed}-${this.n}`;
  }
  /** The same sequence as id(), so traces recorded before message ids had their own source replay unchanged. */
  messageId(): string {
    return this.id();
  }
  token(): string {
    this.n++;
    return `tok-${this.seed}-${this.n.toString(36)}`;
  }
}
