import fc from 'fast-check';
import { TOPICS, openClient, type HubModel } from '../model';
import type { FuzzHub } from '../system';
import { HubCommand, expectReplyType, fromOf, patternArb, senderArb, showSender, slotArb, type Sender } from './common';

/** hub:subscribe to a valid or invalid topic. */
export class Subscribe extends HubCommand {
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
    const res = await r.request(m, c, 'hub:subscribe', { topic: this.topic }, { from: fromOf(c, this.sender), pattern: this.pattern });
    expectReplyType(res, 'subscribe', ['hub:subscribed', 'hub:error', 'hub:unauthorized']);
  }

  toString(): string {
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
