import fc from 'fast-check';
import { violate } from '../invariants';
import { openClient, type HubModel } from '../model';
import type { FuzzHub } from '../system';
import { HubCommand, expectReplyType, patternArb, slotArb } from './common';

/** hub:resume: everything held for this session arrives, in order, before the reply. */
export class Resume extends HubCommand {
  constructor(
    readonly slot: number,
    readonly pattern: 'ask' | 'tell',
  ) {
    super();
  }

  check(m: Readonly<HubModel>): boolean {
    return openClient(m, this.slot) !== null;
  }

  async run(m: HubModel, r: FuzzHub): Promise<void> {
    const c = openClient(m, this.slot)!;
    const res = await r.request(m, c, 'hub:resume', null, { pattern: this.pattern });
    const reply = expectReplyType(res, 'resume', ['hub:resumed', 'hub:error', 'hub:unauthorized']);
    if (reply?.type === 'hub:resumed') {
      const flushed = res.frames.filter((f) => f.socket === c.socket && f.frame.metadata?.forwarded === true).length;
      if (flushed !== reply.payload.flushed) violate('pause-buffer', `hub:resumed says ${reply.payload.flushed} flushed, ${flushed} deliveries arrived`);
    }
  }

  toString(): string {
    return `resume(${this.slot}${this.pattern === 'tell' ? ', tell' : ''})`;
  }
}

export const resumeArb = fc.record({ slot: slotArb, pattern: patternArb }).map((a) => new Resume(a.slot, a.pattern));
