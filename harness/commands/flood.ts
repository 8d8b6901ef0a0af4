import fc from 'fast-check';
import { ABUSE_DURATION_MS, ABUSE_FACTOR } from '../../src/core/rate-limit';
import { violate } from '../invariants';
import { liveClient, type HubModel } from '../model';
import type { FuzzHub } from '../system';
import { HubCommand, learnPause, slotArb } from './common';

/**
 * A client sends far above its rate limit for longer than the abuse window,
 * one second at a time: the hub must close it with rate_limit_abuse (1008).
 * Optionally it pauses first, so the abuse is caught in `paused` too, and
 * the runtime's alarm may lag, so it is still `rate-limited` when caught.
 */
export class Flood extends HubCommand {
  constructor(
    readonly slot: number,
    readonly pauseFirst: boolean,
    readonly lateAlarms: boolean,
  ) {
    super();
  }

  check(m: Readonly<HubModel>): boolean {
    // Only with a low rate: the frames needed grow with it.
    return m.profile.flood && m.profile.time && m.config.rateLimitPerSecond <= 2 && liveClient(m, this.slot) !== null;
  }

  async run(m: HubModel, r: FuzzHub): Promise<void> {
    const c = liveClient(m, this.slot)!;
    if (this.pauseFirst) await r.request(m, c, 'hub:pause', null, {}, learnPause(c));
    const perWindow = m.config.rateLimitPerSecond * ABUSE_FACTOR + 1;
    const windows = ABUSE_DURATION_MS / 1000 + 1;
    for (let w = 0; w < windows && c.phase === 'live'; w++) {
      if (w > 0) await r.step(m, { op: 'advance', ms: 1000, ...(this.lateAlarms ? { lateAlarm: true as const } : {}) });
      for (let i = 0; i < perWindow && c.phase === 'live'; i++) {
        await r.step(m, { op: 'frame', socket: c.socket, text: `flood ${w}.${i}` });
      }
    }
    const closed = r.runner.socket(c.socket)?.closed;
    if (c.phase === 'live') violate('rate-limit', `${c.socket} sent ${perWindow} frames a second for ${windows} s and was not closed`);
    if (closed?.by === 'hub' && closed.reason === 'rate_limit_abuse' && closed.code !== 1008) violate('rate-limit', `abuse closed with ${closed.code}`);
  }

  toString(): string {
    return `flood(${this.slot}${this.pauseFirst ? ', paused' : ''}${this.lateAlarms ? ', alarms late' : ''})`;
  }
}

export const floodArb = fc
  .record({ slot: slotArb, pauseFirst: fc.boolean(), lateAlarms: fc.boolean() })
  .map((a) => new Flood(a.slot, a.pauseFirst, a.lateAlarms));
