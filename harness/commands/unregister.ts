import fc from 'fast-check';
import { openClient, type HubModel } from '../model';
import type { FuzzHub } from '../system';
import { HubCommand, addressArb, expectReplyType, fromOf, patternArb, senderArb, showSender, slotArb, type Sender } from './common';

/** hub:unregister of an own address (if it holds one and `own` is set) or any address. */
export class Unregister extends HubCommand {
  constructor(
    readonly slot: number,
    readonly own: boolean,
    readonly address: string,
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
    const held = [...c.registrations.keys()].sort();
    const address = this.own && held.length > 0 ? held[0]! : this.address;
    const res = await r.request(
      m,
      c,
      'hub:unregister',
      { actorAddress: address },
      { from: fromOf(c, this.sender), pattern: this.pattern },
      { actorAddress: address },
    );
    expectReplyType(res, 'unregister', ['hub:unregistered', 'hub:unauthorized', 'hub:error']);
  }

  toString(): string {
    return `unregister(${this.slot}, ${this.own ? 'own' : this.address}${this.sender !== 'self' ? `, ${showSender(this.sender)}` : ''}${this.pattern === 'tell' ? ', tell' : ''})`;
  }
}

export const unregisterArb = fc
  .record({ slot: slotArb, own: fc.boolean(), address: addressArb, sender: senderArb, pattern: patternArb })
  .map((a) => new Unregister(a.slot, a.own, a.address, a.sender, a.pattern));
