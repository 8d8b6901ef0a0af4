import fc from 'fast-check';
import type { HubModel } from '../model';
import type { FuzzHub } from '../system';
import { HubCommand, slotArb } from './common';

/**
 * The client closes its socket (or, when the hub already closed it and the
 * trace does not confirm closes at once, finally answers that close).
 */
export class CloseSocket extends HubCommand {
  constructor(
    readonly slot: number,
    readonly code: number,
  ) {
    super();
  }

  check(m: Readonly<HubModel>): boolean {
    const c = m.slots[this.slot];
    if (!c || c.phase === 'closed') return false;
    // A browser may only close with 1000 or 3000-4999.
    return m.profile.rawCloses || this.code === 1000 || this.code >= 3000;
  }

  async run(m: HubModel, r: FuzzHub): Promise<void> {
    const c = m.slots[this.slot]!;
    await r.step(m, { op: 'close', socket: c.socket, code: this.code });
  }

  toString(): string {
    return `close(${this.slot}, ${this.code})`;
  }
}

export const closeSocketArb = fc
  .record({ slot: slotArb, code: fc.constantFrom(1000, 1000, 1001, 1006, 3000, 4000) })
  .map((a) => new CloseSocket(a.slot, a.code));
