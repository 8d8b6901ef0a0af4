import fc from 'fast-check';
import { violate } from '../invariants';
import type { HubModel } from '../model';
import type { FuzzHub } from '../system';
import { ClientCommand, describe, patternArb, slotArb, type Pattern } from './common';

/** hub:list_actors with and without paging. */
export class ListActors extends ClientCommand {
  constructor(
    slot: number,
    readonly page: { offset?: number; limit?: number } | null,
    pattern: Pattern,
  ) {
    super(slot, pattern);
  }

  async run(m: HubModel, r: FuzzHub): Promise<void> {
    const { reply } = await this.exchange(m, r, this.client(m), 'hub:list_actors', this.page, ['hub:actor_list', 'hub:error', 'hub:unauthorized']);
    if (reply?.type !== 'hub:actor_list') return;
    const list = reply.payload.actors as { actorAddress: string; expiresAt: number }[];
    const sorted = [...list].sort((a, b) => (a.actorAddress < b.actorAddress ? -1 : 1));
    if (list.some((a, i) => a.actorAddress !== sorted[i]!.actorAddress)) violate('registry', 'list_actors is not sorted by address');
    if (list.some((a) => a.expiresAt <= m.now)) violate('registry', 'list_actors shows an expired registration');
    if (list.some((a) => 'renewalToken' in a)) violate('registry', 'list_actors reveals a renewal token');
  }

  toString(): string {
    return describe('list_actors', this.slot, this.page && JSON.stringify(this.page));
  }
}

export const listActorsArb = fc
  .record({
    slot: slotArb,
    page: fc.option(
      fc.record({ offset: fc.constantFrom(0, 1, 3), limit: fc.constantFrom(1, 2, 1000) }, { requiredKeys: [] }),
      { nil: null },
    ),
    pattern: patternArb,
  })
  .map((a) => new ListActors(a.slot, a.page, a.pattern));
