import fc from 'fast-check';
import type { HubModel } from '../model';
import type { FuzzHub } from '../system';
import { HubCommand } from './common';

/** The runtime evicts the object while its sockets stay open; the next event rebuilds it from storage. */
export class Hibernate extends HubCommand {
  check(_m: Readonly<HubModel>): boolean {
    return true;
  }

  async run(m: HubModel, r: FuzzHub): Promise<void> {
    await r.step(m, { op: 'hibernate' });
  }

  toString(): string {
    return 'hibernate()';
  }
}

export const hibernateArb = fc.constant(null).map(() => new Hibernate());
