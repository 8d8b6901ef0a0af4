import fc from 'fast-check';
import { violate } from '../invariants';
import type { HubModel } from '../model';
import type { FuzzHub } from '../system';
import { ClientCommand, describe, framesOn, patternArb, slotArb, tellMark, type Pattern } from './common';

/** hub:disconnect from the client: acknowledged, and only then closed (1000). */
export class Disconnect extends ClientCommand {
  constructor(
    slot: number,
    pattern: Pattern,
    readonly withReason: boolean,
  ) {
    super(slot, pattern);
  }

  async run(m: HubModel, r: FuzzHub): Promise<void> {
    const c = this.client(m);
    const live = c.phase === 'live';
    const res = await this.request(m, r, c, 'hub:disconnect', this.withReason ? { reason: 'done' } : null);
    if (!live) return;
    const reply = res.replies[0];
    if (reply?.type !== 'hub:disconnect' || reply.payload?.acknowledged !== true) {
      violate('disconnect', `hub:disconnect on a live session must be acknowledged, got ${JSON.stringify(reply)}`);
    }
    const seen = framesOn(res, c.socket);
    if (seen[seen.length - 1] !== reply) violate('disconnect', 'the acknowledgement must be the last frame before the close');
    if (res.report.outputs.closes?.[c.socket]?.code !== 1000) violate('disconnect', `the socket must close with 1000, got ${JSON.stringify(res.report.outputs.closes)}`);
  }

  toString(): string {
    return describe('disconnect', this.slot, tellMark(this.pattern));
  }
}

export const disconnectArb = fc
  .record({ slot: slotArb, pattern: patternArb, withReason: fc.boolean() })
  .map((a) => new Disconnect(a.slot, a.pattern, a.withReason));
