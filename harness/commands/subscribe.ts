import fc from 'fast-check';
import { TOPICS, learnSubscribed, type HubModel } from '../model';
import type { FuzzHub } from '../system';
import { ClientCommand, fromOf, patternArb, senderArb, showSender, slotArb, type Pattern, type Sender } from './common';

/** hub:subscribe to a valid or invalid topic. */
export class Subscribe extends ClientCommand {
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
    await this.exchange(
      m,
      r,
      c,
      'hub:subscribe',
      { topic: this.topic },
      ['hub:subscribed', 'hub:error', 'hub:unauthorized'],
      { from: fromOf(c, this.sender) },
      ({ replies: [reply], request }) => {
        if (reply?.type === 'hub:subscribed') learnSubscribed(m, c, reply.payload.topic, request!.actingAs!, reply.payload.subscriptionId);
      },
    );
  }

  toString(): string {
    // Not `describe`: an empty (invalid) topic must still print as an empty part.
    return `subscribe(${this.slot}, ${this.topic}${this.sender !== 'self' ? `, ${showSender(this.sender)}` : ''}${this.pattern === 'tell' ? ', tell' : ''})`;
  }
}

export const subscribeArb = fc
  .record({
    slot: slotArb,
    topic: fc.oneof({ arbitrary: fc.constantFrom(...TOPICS), weight: 9 }, { arbitrary: fc.constantFrom('bad topic!', ''), weight: 1 }),
    sender: senderArb,
    pattern: patternArb,
  })
  .map((a) => new Subscribe(a.slot, a.topic, a.sender, a.pattern));
