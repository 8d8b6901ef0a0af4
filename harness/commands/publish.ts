import fc from 'fast-check';
import { violate } from '../invariants';
import { TOPICS, openClient, type HubModel } from '../model';
import type { FuzzHub } from '../system';
import { HubCommand, expectReplyType, fromOf, patternArb, senderArb, showSender, slotArb, type Sender } from './common';

/** hub:publish to a topic with or without subscribers. */
export class Publish extends HubCommand {
  constructor(
    readonly slot: number,
    readonly topic: string,
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
      'hub:publish',
      { topic: this.topic, type: 'app.event', data: { n: m.nextMessage + 1 } },
      { from: fromOf(c, this.sender), pattern: this.pattern },
    );
    const reply = expectReplyType(res, 'publish', ['hub:published', 'hub:error', 'hub:unauthorized']);
    if (reply?.type === 'hub:published') {
      const sent = res.frames.filter((f) => f.frame.metadata?.publication === true);
      if (sent.some((f) => f.frame.metadata.topic !== this.topic)) violate('deliveries', 'a publication carries the wrong topic');
      if (sent.length > reply.payload.subscriberCount) violate('deliveries', `published to ${reply.payload.subscriberCount} but ${sent.length} frames went out`);
    }
  }

  toString(): string {
    return `publish(${this.slot}, ${this.topic}${this.sender !== 'self' ? `, ${showSender(this.sender)}` : ''}${this.pattern === 'tell' ? ', tell' : ''})`;
  }
}

export const publishArb = fc
  .record({ slot: slotArb, topic: fc.constantFrom(...TOPICS), sender: senderArb, pattern: patternArb })
  .map((a) => new Publish(a.slot, a.topic, a.sender, a.pattern));
