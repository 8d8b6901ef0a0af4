import fc from 'fast-check';
import { PING_FRAME } from '../../src/protocol/ping';
import { openClient, type HubModel } from '../model';
import type { FuzzHub } from '../system';
import { HubCommand, slotArb } from './common';

/**
 * The keep-alive ping: answered by the runtime without waking the hub, yet it
 * counts as liveness. It may come after the client was idle for a while
 * (time passes first, with the alarm lagging, so the ping is the newest sign
 * of life the hub has not seen yet).
 */
export class Ping extends HubCommand {
  constructor(
    readonly slot: number,
    readonly idleMs: number,
  ) {
    super();
  }

  check(m: Readonly<HubModel>): boolean {
    return openClient(m, this.slot) !== null && (this.idleMs === 0 || m.profile.time);
  }

  async run(m: HubModel, r: FuzzHub): Promise<void> {
    const c = openClient(m, this.slot)!;
    if (this.idleMs > 0) await r.step(m, { op: 'advance', ms: this.idleMs, lateAlarm: true });
    if (c.phase === 'connecting' || c.phase === 'live') await r.step(m, { op: 'frame', socket: c.socket, text: PING_FRAME });
  }

  toString(): string {
    return `ping(${this.slot}${this.idleMs ? `, after ${this.idleMs} ms idle` : ''})`;
  }
}

export const pingArb = fc
  .record({ slot: slotArb, idleMs: fc.constantFrom(0, 0, 400, 2_500) })
  .map((a) => new Ping(a.slot, a.idleMs));
