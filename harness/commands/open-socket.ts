import fc from 'fast-check';
import { newClient, type HubModel } from '../model';
import type { FuzzHub } from '../system';
import { HubCommand, defaultIdentity, slotArb } from './common';
import { Connect } from './connect';

/** A client opens a WebSocket and, usually, connects right away as its slot's identity. */
export class OpenSocket extends HubCommand {
  constructor(
    readonly slot: number,
    readonly connect: boolean,
    readonly shortToken = false,
  ) {
    super();
  }

  check(m: Readonly<HubModel>): boolean {
    const c = m.slots[this.slot];
    return !c || c.phase === 'closed' || c.phase === 'closing';
  }

  async run(m: HubModel, r: FuzzHub): Promise<void> {
    const socket = `s${++m.opened}`;
    m.slots[this.slot] = newClient(this.slot, socket);
    await r.step(m, { op: 'open', socket });
    // With auth on, a short-lived token lets the session's expiry be reached.
    const token = this.shortToken ? 'short' : 'long';
    if (this.connect) await new Connect(this.slot, defaultIdentity(this.slot), 'current', [], token).run(m, r);
  }

  toString(): string {
    return `open(${this.slot}${this.connect ? `, connect${this.shortToken ? ' (short token)' : ''}` : ''})`;
  }
}

export const openSocketArb = fc
  .record({
    slot: slotArb,
    connect: fc.oneof({ arbitrary: fc.constant(true), weight: 3 }, { arbitrary: fc.constant(false), weight: 1 }),
    shortToken: fc.oneof({ arbitrary: fc.constant(false), weight: 3 }, { arbitrary: fc.constant(true), weight: 1 }),
  })
  .map((a) => new OpenSocket(a.slot, a.connect, a.shortToken));
