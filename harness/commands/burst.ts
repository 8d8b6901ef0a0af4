import fc from 'fast-check';
import { openClient, type HubModel } from '../model';
import type { FuzzHub } from '../system';
import { HubCommand, slotArb } from './common';

/** A client fires several requests at once, usually more than its bucket holds. */
export class Burst extends HubCommand {
  constructor(
    readonly slot: number,
    readonly extra: number,
  ) {
    super();
  }

  check(m: Readonly<HubModel>): boolean {
    // Bursts beyond a large bucket would only make the trace long; and where
    // time is real (workerd) the bucket refills during the burst.
    return openClient(m, this.slot) !== null && m.config.rateLimitBurst <= 20 && m.profile.time;
  }

  async run(m: HubModel, r: FuzzHub): Promise<void> {
    const c = openClient(m, this.slot)!;
    const n = m.config.rateLimitBurst + this.extra;
    for (let i = 0; i < n && (c.phase === 'live' || c.phase === 'connecting'); i++) {
      await r.request(m, c, 'hub:queue_stats', null, { pattern: i % 2 ? 'tell' : 'ask' });
    }
  }

  toString(): string {
    return `burst(${this.slot}, bucket+${this.extra})`;
  }
}

export const burstArb = fc.record({ slot: slotArb, extra: fc.integer({ min: -1, max: 2 }) }).map((a) => new Burst(a.slot, a.extra));
