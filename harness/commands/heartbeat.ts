import fc from 'fast-check';
import { violate } from '../invariants';
import { openClient, type HubModel } from '../model';
import type { FuzzHub } from '../system';
import { HubCommand, expectReplyType, patternArb, slotArb } from './common';

/** hub:heartbeat with a timestamp, with a null payload, or with none. */
export class Heartbeat extends HubCommand {
  constructor(
    readonly slot: number,
    readonly payload: 'timestamp' | 'null',
    readonly pattern: 'ask' | 'tell',
  ) {
    super();
  }

  check(m: Readonly<HubModel>): boolean {
    return openClient(m, this.slot) !== null;
  }

  async run(m: HubModel, r: FuzzHub): Promise<void> {
    const c = openClient(m, this.slot)!;
    const live = c.phase === 'live';
    const res = await r.request(m, c, 'hub:heartbeat', this.payload === 'null' ? null : { timestamp: m.now - 5 }, {
      pattern: this.pattern,
    });
    const reply = expectReplyType(res, 'heartbeat', ['hub:heartbeat_ack', 'hub:error', 'hub:unauthorized']);
    // Heartbeats are exempt from rate limiting: a live session always gets its ack.
    if (live && reply && reply.type !== 'hub:heartbeat_ack') violate('rate-limit', `a heartbeat of a live session got ${reply.type}`);
    if (live && !reply) violate('replies', 'a heartbeat of a live session got no ack');
  }

  toString(): string {
    return `heartbeat(${this.slot}${this.payload === 'null' ? ', null' : ''}${this.pattern === 'tell' ? ', tell' : ''})`;
  }
}

export const heartbeatArb = fc
  .record({ slot: slotArb, payload: fc.constantFrom<'timestamp' | 'null'>('timestamp', 'null'), pattern: patternArb })
  .map((a) => new Heartbeat(a.slot, a.payload, a.pattern));
