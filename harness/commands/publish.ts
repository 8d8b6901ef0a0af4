import fc from 'fast-check';
import { violate } from '../invariants';
import { TOPICS, type HubModel } from '../model';
import type { FuzzHub } from '../system';
import { ClientCommand, describe, fromOf, patternArb, senderArb, showSender, slotArb, tellMark, type Pattern, type Sender } from './common';

/** hub:publish to a topic with or without subscribers. */
export class Publish extends ClientCommand {
  constructor(
    slot: number,
    readonly topic: string,
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
      'hub:publish',
      { topic: this.topic, type: 'app.event', data: { n: m.nextMessage + 1 } },
      ['hub:published', 'hub:error', 'hub:unauthorized'],
      { from: fromOf(c, this.sender) },
    );
    if (reply?.type === 'hub:published') {
      const sent = res.frames.filter((f) => f.frame.metadata?.publication === true);
      if (sent.some((f) => f.frame.metadata.topic !== this.topic)) violate('deliveries', 'a publication carries the wrong topic');
      if (sent.length > reply.payload.subscriberCount) violate('deliveries', `published to ${reply.payload.subscriberCount} but ${sent.length} frames went out`);
    }
  }

  toString(): string {
    return describe('publish', this.slot, this.topic, showSender(this.sender), tellMark(this.pattern));
  }
}

export const publishArb = fc
  .record({ slot: slotArb, topic: fc.constantFrom(...TOPICS), sender: senderArb, pattern: patternArb })
  .map((a) => new Publish(a.slot, a.topic, a.sender, a.pattern));
