import fc from 'fast-check';
import { violate } from '../invariants';
import { CAPABILITIES, type HubModel } from '../model';
import type { FuzzHub } from '../system';
import { ClientCommand, describe, fromOf, patternArb, senderArb, showSender, slotArb, tellMark, type Pattern, type Sender } from './common';

/** hub:broadcast to every live registered actor, optionally filtered by capability or excluding the sender. */
export class Broadcast extends ClientCommand {
  constructor(
    slot: number,
    readonly excludeSelf: boolean | undefined,
    readonly capability: string | undefined,
    readonly sender: Sender,
    pattern: Pattern,
  ) {
    super(slot, pattern);
  }

  async run(m: HubModel, r: FuzzHub): Promise<void> {
    const c = this.client(m);
    const { res, reply } = await this.exchange(
      m,
      r,
      c,
      'hub:broadcast',
      { type: 'app.announce', data: { n: m.nextMessage + 1 }, ...(this.excludeSelf !== undefined ? { excludeSelf: this.excludeSelf } : {}) },
      ['hub:broadcast_ack', 'hub:error', 'hub:unauthorized'],
      { from: fromOf(c, this.sender), metadata: this.capability ? { targetCapability: this.capability } : {} },
    );
    if (reply?.type === 'hub:broadcast_ack') {
      const delivered = res.frames.filter((f) => f.frame.metadata?.originalMessageId === reply.payload.messageId && f.frame.metadata?.broadcast === true);
      const { deliveredCount, queuedCount } = reply.payload as { deliveredCount: number; queuedCount: number };
      if (delivered.length > deliveredCount) violate('deliveries', `broadcast_ack says ${deliveredCount} delivered, ${delivered.length} frames went out`);
      if (deliveredCount + queuedCount > m.config.maxBroadcastRecipients) violate('deliveries', 'broadcast beyond MAX_BROADCAST_RECIPIENTS');
      if (this.excludeSelf === true && delivered.some((f) => f.socket === c.socket)) violate('deliveries', 'excludeSelf broadcast reached its sender');
    }
  }

  toString(): string {
    return describe(
      'broadcast',
      this.slot,
      this.excludeSelf !== undefined && `excludeSelf=${this.excludeSelf}`,
      this.capability && `cap=${this.capability}`,
      showSender(this.sender),
      tellMark(this.pattern),
    );
  }
}

export const broadcastArb = fc
  .record({
    slot: slotArb,
    excludeSelf: fc.option(fc.boolean(), { nil: undefined }),
    capability: fc.option(fc.constantFrom(...CAPABILITIES), { nil: undefined, freq: 3 }),
    sender: senderArb,
    pattern: patternArb,
  })
  .map((a) => new Broadcast(a.slot, a.excludeSelf, a.capability, a.sender, a.pattern));
