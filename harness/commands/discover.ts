import fc from 'fast-check';
import { violate } from '../invariants';
import { CAPABILITIES, type HubModel } from '../model';
import type { FuzzHub } from '../system';
import { ClientCommand, describe, patternArb, slotArb, type Pattern } from './common';

export const PATTERNS = ['*', 'a*', '@(a/*)', '*inbox', 'svc/*', 'shared', '*a*b*', '@(nobody)', '**'] as const;

/** hub:discover with globs, capabilities and limits. */
export class Discover extends ClientCommand {
  constructor(
    slot: number,
    /** The address glob searched for (`pattern` is the message's ask/tell). */
    readonly glob: string,
    readonly capability: string | undefined,
    readonly limit: number | undefined,
    pattern: Pattern,
  ) {
    super(slot, pattern);
  }

  async run(m: HubModel, r: FuzzHub): Promise<void> {
    const { reply } = await this.exchange(
      m,
      r,
      this.client(m),
      'hub:discover',
      {
        pattern: this.glob,
        ...(this.capability !== undefined ? { capability: this.capability } : {}),
        ...(this.limit !== undefined ? { limit: this.limit } : {}),
      },
      ['hub:discovered', 'hub:error', 'hub:unauthorized'],
    );
    if (reply?.type === 'hub:discovered') {
      const actors = reply.payload.actors as { address: string; capabilities: string[] }[];
      if (this.limit !== undefined && actors.length > this.limit) violate('registry', `discover returned ${actors.length} > limit ${this.limit}`);
      for (const a of actors) {
        if (this.capability !== undefined && !a.capabilities.includes(this.capability)) violate('registry', `${a.address} lacks ${this.capability}`);
        if ('renewalToken' in a || 'connId' in a) violate('registry', 'discover reveals a renewal token or connection id');
      }
    }
  }

  toString(): string {
    return describe('discover', this.slot, this.glob, this.capability && `cap=${this.capability}`, this.limit !== undefined && `limit=${this.limit}`);
  }
}

export const discoverArb = fc
  .record({
    slot: slotArb,
    pattern: fc.constantFrom(...PATTERNS),
    capability: fc.option(fc.constantFrom(...CAPABILITIES), { nil: undefined }),
    limit: fc.option(fc.constantFrom(1, 2, 100, 500), { nil: undefined }),
    messagePattern: patternArb,
  })
  .map((a) => new Discover(a.slot, a.pattern, a.capability, a.limit, a.messagePattern));
