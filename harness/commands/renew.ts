import fc from 'fast-check';
import { violate } from '../invariants';
import { learnRenewed, type HubModel } from '../model';
import type { FuzzHub } from '../system';
import { ClientCommand, describe, patternArb, slotArb, tellMark, type Pattern } from './common';

type Which = 'current' | 'retired' | 'bogus' | 'foreign';

/** hub:renew with the current token, a replaced one, another client's, or nonsense. */
export class Renew extends ClientCommand {
  constructor(
    slot: number,
    readonly which: Which,
    pattern: Pattern,
  ) {
    super(slot, pattern);
  }

  override check(m: Readonly<HubModel>): boolean {
    if (!super.check(m)) return false;
    // Tokens the hub issued are meaningless to a different hub instance (differential runs).
    return m.profile.reuseIssuedValues || this.which === 'bogus';
  }

  async run(m: HubModel, r: FuzzHub): Promise<void> {
    const c = this.client(m);
    const own = [...c.registrations.values()].map((x) => x.renewalToken);
    const foreign = m.slots.flatMap((o) => (o && o !== c ? [...o.registrations.values()].map((x) => x.renewalToken) : []));
    let token: string | undefined;
    if (this.which === 'current') token = own[0];
    if (this.which === 'retired') token = c.retiredTokens[c.retiredTokens.length - 1];
    if (this.which === 'foreign') token = foreign[0];
    const valid = token !== undefined && this.which === 'current';
    const expected = valid ? ['hub:renewed', 'hub:unauthorized', 'hub:error'] : ['hub:unauthorized', 'hub:error'];
    const { reply } = await this.exchange(m, r, c, 'hub:renew', { renewalToken: token ?? 'tok-never-issued' }, expected, {}, ({ replies: [r0] }) => {
      if (r0?.type === 'hub:renewed') learnRenewed(c, r0.payload);
    });
    if (!valid && reply?.type === 'hub:renewed') violate('registry', `a ${this.which} renewal token was accepted`);
  }

  toString(): string {
    return describe('renew', this.slot, this.which, tellMark(this.pattern));
  }
}

export const renewArb = fc
  .record({ slot: slotArb, which: fc.constantFrom<Which>('current', 'current', 'retired', 'bogus', 'foreign'), pattern: patternArb })
  .map((a) => new Renew(a.slot, a.which, a.pattern));
