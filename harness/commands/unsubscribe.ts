import fc from 'fast-check';
import { TOPICS, openClient, splitSubKey, type HubModel } from '../model';
import type { FuzzHub } from '../system';
import { HubCommand, expectReplyType, fromOf, patternArb, senderArb, slotArb, type Sender } from './common';

/** By topic, by subscription id, by a topic passed as the id (old clients), or by an id nobody issued. */
type By = 'topic' | 'id' | 'legacy' | 'bogus';

/** hub:unsubscribe in each of its forms. */
export class Unsubscribe extends HubCommand {
  constructor(
    readonly slot: number,
    readonly by: By,
    readonly topic: string,
    readonly sender: Sender,
    readonly pattern: 'ask' | 'tell',
  ) {
    super();
  }

  check(m: Readonly<HubModel>): boolean {
    return openClient(m, this.slot) !== null && (m.profile.reuseIssuedValues || this.by !== 'id');
  }

  async run(m: HubModel, r: FuzzHub): Promise<void> {
    const c = openClient(m, this.slot)!;
    const own = [...c.subscriptions].sort();
    const first = own[0];
    let payload: { topic?: string; subscriptionId?: string };
    if (this.by === 'id' && first) payload = { subscriptionId: first[1] };
    else if (this.by === 'legacy') payload = { subscriptionId: first ? splitSubKey(first[0]).topic : this.topic };
    else if (this.by === 'bogus') payload = { subscriptionId: 'sub-never-issued' };
    else payload = { topic: this.topic };
    const res = await r.request(m, c, 'hub:unsubscribe', payload, { from: fromOf(c, this.sender), pattern: this.pattern }, payload);
    expectReplyType(res, 'unsubscribe', ['hub:unsubscribed', 'hub:error', 'hub:unauthorized']);
  }

  toString(): string {
    return `unsubscribe(${this.slot}, by ${this.by}${this.by === 'topic' ? ` ${this.topic}` : ''}${this.pattern === 'tell' ? ', tell' : ''})`;
  }
}

export const unsubscribeArb = fc
  .record({
    slot: slotArb,
    by: fc.constantFrom<By>('topic', 'id', 'id', 'legacy', 'bogus'),
    topic: fc.constantFrom(...TOPICS),
    sender: senderArb,
    pattern: patternArb,
  })
  .map((a) => new Unsubscribe(a.slot, a.by, a.topic, a.sender, a.pattern));
