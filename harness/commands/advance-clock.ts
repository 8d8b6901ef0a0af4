import fc from 'fast-check';
import type { HubModel } from '../model';
import type { FuzzHub } from '../system';
import { HubCommand } from './common';

/** Time passes; the alarm fires at each time it was set for on the way, or (late) not until later. */
export class AdvanceClock extends HubCommand {
  constructor(
    readonly ms: number,
    readonly lateAlarm: boolean,
  ) {
    super();
  }

  check(m: Readonly<HubModel>): boolean {
    return m.profile.time;
  }

  async run(m: HubModel, r: FuzzHub): Promise<void> {
    await r.step(m, { op: 'advance', ms: this.ms, ...(this.lateAlarm ? { lateAlarm: true as const } : {}) });
  }

  toString(): string {
    return `advance(${this.ms} ms${this.lateAlarm ? ', alarm late' : ''})`;
  }
}

/** Mostly small steps, sometimes past a rate-limit refill, a TTL, the heartbeat timeout or a token's life. */
export const advanceClockArb = fc
  .record({
    ms: fc.oneof(
      { arbitrary: fc.integer({ min: 0, max: 1_500 }), weight: 5 },
      { arbitrary: fc.integer({ min: 1_500, max: 8_000 }), weight: 3 },
      { arbitrary: fc.integer({ min: 8_000, max: 70_000 }), weight: 1 },
    ),
    lateAlarm: fc.oneof({ arbitrary: fc.constant(false), weight: 4 }, { arbitrary: fc.constant(true), weight: 1 }),
  })
  .map((a) => new AdvanceClock(a.ms, a.lateAlarm));
