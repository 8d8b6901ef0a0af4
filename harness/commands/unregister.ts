import fc from 'fast-check';
import { dropRegistration, type HubModel } from '../model';
import type { FuzzHub } from '../system';
import { ClientCommand, addressArb, describe, fromOf, patternArb, senderArb, showSender, slotArb, tellMark, type Pattern, type Sender } from './common';

/** hub:unregister of an own address (if it holds one and `own` is set) or any address. */
export class Unregister extends ClientCommand {
  constructor(
    slot: number,
    readonly own: boolean,
    readonly address: string,
    readonly sender: Sender,
    pattern: Pattern,
  ) {
    super(slot, pattern);
  }

  async run(m: HubModel, r: FuzzHub): Promise<void> {
    const c = this.client(m);
    const held = [...c.registrations.keys()].sort();
    const address = this.own && held.length > 0 ? held[0]! : this.address;
    await this.exchange(
      m,
      r,
      c,
      'hub:unregister',
      { actorAddress: address },
      ['hub:unregistered', 'hub:unauthorized', 'hub:error'],
      { from: fromOf(c, this.sender) },
      ({ replies: [reply], tellProcessed }) => {
        if (reply?.type === 'hub:unregistered') dropRegistration(c, reply.payload.actorAddress);
        else if (tellProcessed) dropRegistration(c, address);
      },
    );
  }

  toString(): string {
    return describe('unregister', this.slot, this.own ? 'own' : this.address, showSender(this.sender), tellMark(this.pattern));
  }
}

export const unregisterArb = fc
  .record({ slot: slotArb, own: fc.boolean(), address: addressArb, sender: senderArb, pattern: patternArb })
  .map((a) => new Unregister(a.slot, a.own, a.address, a.sender, a.pattern));
