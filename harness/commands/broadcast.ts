import fc from 'fast-check';
import { violate } from '../invariants';
import { CAPABILITIES, openClient, type HubModel } from '../model';
import type { FuzzHub } from '../system';
import { HubCommand, expectReplyType, fromOf, patternArb, senderArb, showSender, slotArb, type Sender } from './common';

/** hub:broadcast to every live registered actor, optionally filtered by capability or excluding the sender. */
export class Broadcast extends HubCommand {
  constructor(
    readonly slot: number,
    readonly excludeSelf: boolean | undefined,
    readonly capability: string | undefined,
    readonly sender: Sender,
    readonly pattern: 'ask' | 'tell',
  ) {
    super();
  }

  check(m: Readonly<HubModel>): boolean {
    return openClient(m, this.slot) !== null;
  }

  async run(m: HubModel, r: FuzzHub): Promise<void> {
    const c = openClient(m, this.slot)!;
    const res = await r.request(
      m,
      c,
      'hub:broadcast',
      { type: 'app.announce', data: { n: m.nextMessage + 1 }, ...(this.excludeSelf !== undefined ? { excludeSelf: this.excludeSelf } : {}) },
      { from: fromOf(c, this.sender), pattern: this.pattern, metadata: this.capability ? { targetCapability: this.capability } : {} },
    );
    const reply = expectReplyType(res, 'broadcast', ['hub:broadcast_ack', 'hub:error', 'hub:unauthorized']);
    if (reply?.type === 'hub:broadcast_ack') {
      const delivered = res.frames.filter((f) => f.frame.metadata?.originalMessageId === reply.payload.messageId && f.frame.metadata?.broadcast === true);
      const { deliveredCount, queuedCount } = reply.payload as { deliveredCount: number; queuedCount: number };
      if (delivered.length > deliveredCount) violate('deliveries', `broadcast_ack says ${deliveredCount} delivered, ${delivered.length} frames went out`);
      if (deliveredCount + queuedCount > m.config.maxBroadcastRecipients) violate('deliveries', 'broadcast beyond MAX_BROADCAST_RECIPIENTS');
      if (this.excludeSelf === true && delivered.some((f) => f.socket === c.socket)) violate('deliveries', 'excludeSelf broadcast reached its sender');
    }
  }

  toString(): string {
    const opts = [this.excludeSelf !== undefined ? `excludeSelf=${this.excludeSelf}` : '', this.capability ? `cap=${this.capability}` : '', showSender(this.sender), this.pattern === 'tell' ? 'tell' : ''].filter(Boolean);
    return `broadcast(${this.slot}${opts.length ? `, ${opts.join(', ')}` : ''})`;
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
