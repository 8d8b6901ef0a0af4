import fc from 'fast-check';
import { TOPICS, forgetSubscription, learnUnsubscribed, splitSubKey, type HubModel } from '../model';
import type { FuzzHub } from '../system';
import { ClientCommand, describe, fromOf, patternArb, senderArb, slotArb, tellMark, type Pattern, type Sender } from './common';

/** By topic, by subscription id, by a topic passed as the id (old clients), or by an id nobody issued. */
type By = 'topic' | 'id' | 'legacy' | 'bogus';

/** hub:unsubscribe in each of its forms. */
export class Unsubscribe extends ClientCommand {
  constructor(
    slot: number,
    readonly by: By,
    readonly topic: string,
    readonly sender: Sender,
    pattern: Pattern,
  ) {
    super(slot, pattern);
  }

  override check(m: Readonly<HubModel>): boolean {
    return super.check(m) && (m.profile.reuseIssuedValues || this.by !== 'id');
  }

  async run(m: HubModel, r: FuzzHub): Promise<void> {
    const c = this.client(m);
    const own = [...c.subscriptions].sort();
    const first = own[0];
    let payload: { topic?: string; subscriptionId?: string };
    if (this.by === 'id' && first) payload = { subscriptionId: first[1] };
    else if (this.by === 'legacy') payload = { subscriptionId: first ? splitSubKey(first[0]).topic : this.topic };
    else if (this.by === 'bogus') payload = { subscriptionId: 'sub-never-issued' };
    else payload = { topic: this.topic };
    await this.exchange(
      m,
      r,
      c,
      'hub:unsubscribe',
      payload,
      ['hub:unsubscribed', 'hub:error', 'hub:unauthorized'],
      { from: fromOf(c, this.sender) },
      ({ replies: [reply], request, tellProcessed }) => {
        if (reply?.type === 'hub:unsubscribed') forgetSubscription(c, reply.payload.subscriptionId);
        else if (tellProcessed) learnUnsubscribed(c, payload, request!.actingAs!);
      },
    );
  }

  toString(): string {
    return describe('unsubscribe', this.slot, `by ${this.by}${this.by === 'topic' ? ` ${this.topic}` : ''}`, tellMark(this.pattern));
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
