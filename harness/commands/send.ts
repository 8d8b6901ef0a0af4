import fc from 'fast-check';
import { HUB_ADDRESS } from '../../src/protocol/envelope';
import { violate } from '../invariants';
import type { HubModel } from '../model';
import type { FuzzHub } from '../system';
import {
  ClientCommand,
  describe,
  fromOf,
  resolveTarget,
  senderArb,
  showSender,
  showTarget,
  slotArb,
  targetArb,
  type Pattern,
  type Sender,
  type Target,
} from './common';

/** Where the target is named: payload.to (envelope to the hub), envelope to only, both the same, or two different. */
type Routing = 'payload' | 'envelope' | 'both' | 'ambiguous' | 'none';
type Ttl = 'none' | 'long' | 'expired';

/** hub:send ask or tell to a registered, connected, unknown or paused target. */
export class Send extends ClientCommand {
  constructor(
    slot: number,
    readonly target: Target,
    readonly routing: Routing,
    readonly ttl: Ttl,
    readonly sender: Sender,
    pattern: Pattern,
    readonly size: number,
  ) {
    super(slot, pattern);
  }

  async run(m: HubModel, r: FuzzHub): Promise<void> {
    const c = this.client(m);
    const target = resolveTarget(m, this.target);
    const to = this.routing === 'envelope' || this.routing === 'both' ? target : this.routing === 'ambiguous' ? '@(elsewhere)' : HUB_ADDRESS;
    const payload = {
      ...(this.routing === 'payload' || this.routing === 'both' || this.routing === 'ambiguous' ? { to: target } : {}),
      type: 'app.note',
      data: { n: m.nextMessage + 1, text: 'x'.repeat(this.size) },
    };
    // An expired message is older than its ttl; the timestamp is fixed so replays agree everywhere.
    const timing = this.ttl === 'expired' ? { timestamp: 1_000, ttl: 1 } : this.ttl === 'long' ? { ttl: 3_600_000 } : {};
    const expected = ['hub:delivery_ack', 'hub:unknown_actor', 'hub:error', 'hub:unauthorized'];
    const { res, reply } = await this.exchange(m, r, c, 'hub:send', payload, expected, { from: fromOf(c, this.sender), to, ...timing });
    if (this.routing === 'ambiguous' && reply && reply.payload?.code !== 'ambiguous_target' && reply.type !== 'hub:unauthorized' && reply.type !== 'hub:rate_limited' && reply.payload?.code !== 'not_connected' && reply.payload?.code !== 'message_expired') {
      violate('model', `two different targets must be refused as ambiguous_target, got ${JSON.stringify(reply.payload)}`);
    }
    if (this.ttl === 'expired' && this.pattern === 'tell' && res.frames.some((f) => f.frame.metadata?.originalMessageId !== undefined)) {
      violate('model', 'an expired tell was delivered');
    }
  }

  toString(): string {
    return describe(
      'send',
      `${this.slot} -> ${showTarget(this.target)}`,
      this.pattern,
      this.routing !== 'payload' && this.routing,
      this.ttl !== 'none' && `ttl=${this.ttl}`,
      showSender(this.sender),
      this.size > 0 && `size=${this.size}`,
    );
  }
}

export const sendArb = fc
  .record({
    slot: slotArb,
    target: targetArb,
    routing: fc.oneof(
      { arbitrary: fc.constantFrom<Routing>('payload', 'envelope', 'both'), weight: 8 },
      { arbitrary: fc.constantFrom<Routing>('ambiguous', 'none'), weight: 1 },
    ),
    ttl: fc.oneof({ arbitrary: fc.constant<Ttl>('none'), weight: 6 }, { arbitrary: fc.constantFrom<Ttl>('long', 'expired'), weight: 1 }),
    sender: senderArb,
    pattern: fc.constantFrom<'ask' | 'tell'>('ask', 'tell'),
    size: fc.oneof({ arbitrary: fc.constant(0), weight: 8 }, { arbitrary: fc.constantFrom(500, 1500), weight: 1 }),
  })
  .map((a) => new Send(a.slot, a.target, a.routing, a.ttl, a.sender, a.pattern, a.size));
