import fc from 'fast-check';
import { violate } from '../invariants';
import type { HubModel } from '../model';
import type { FuzzHub } from '../system';
import { ClientCommand, describe, learnHeartbeatReply, patternArb, slotArb, tellMark, type Pattern } from './common';

/** hub:heartbeat with a timestamp, with a null payload, or with none. */
export class Heartbeat extends ClientCommand {
  constructor(
    slot: number,
    readonly payload: 'timestamp' | 'null',
    pattern: Pattern,
  ) {
    super(slot, pattern);
  }

  async run(m: HubModel, r: FuzzHub): Promise<void> {
    const c = this.client(m);
    const live = c.phase === 'live';
    const payload = this.payload === 'null' ? null : { timestamp: m.now - 5 };
    const { reply } = await this.exchange(m, r, c, 'hub:heartbeat', payload, ['hub:heartbeat_ack', 'hub:error', 'hub:unauthorized'], {}, learnHeartbeatReply(m, c));
    // Heartbeats are exempt from rate limiting: a live session always gets its ack.
    if (live && reply && reply.type !== 'hub:heartbeat_ack') violate('rate-limit', `a heartbeat of a live session got ${reply.type}`);
    if (live && !reply) violate('replies', 'a heartbeat of a live session got no ack');
  }

  toString(): string {
    return describe('heartbeat', this.slot, this.payload === 'null' && 'null', tellMark(this.pattern));
  }
}

export const heartbeatArb = fc
  .record({ slot: slotArb, payload: fc.constantFrom<'timestamp' | 'null'>('timestamp', 'null'), pattern: patternArb })
  .map((a) => new Heartbeat(a.slot, a.payload, a.pattern));
