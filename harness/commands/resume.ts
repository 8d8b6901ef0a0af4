import fc from 'fast-check';
import { violate } from '../invariants';
import type { HubModel } from '../model';
import type { FuzzHub } from '../system';
import { ClientCommand, describe, learnResume, patternArb, slotArb, tellMark } from './common';

/** hub:resume: everything held for this session arrives, in order, before the reply. */
export class Resume extends ClientCommand {
  async run(m: HubModel, r: FuzzHub): Promise<void> {
    const c = this.client(m);
    const { res, reply } = await this.exchange(m, r, c, 'hub:resume', null, ['hub:resumed', 'hub:error', 'hub:unauthorized'], {}, learnResume(c));
    if (reply?.type === 'hub:resumed') {
      const flushed = res.frames.filter((f) => f.socket === c.socket && f.frame.metadata?.forwarded === true).length;
      if (flushed !== reply.payload.flushed) violate('pause-buffer', `hub:resumed says ${reply.payload.flushed} flushed, ${flushed} deliveries arrived`);
    }
  }

  toString(): string {
    return describe('resume', this.slot, tellMark(this.pattern));
  }
}

export const resumeArb = fc.record({ slot: slotArb, pattern: patternArb }).map((a) => new Resume(a.slot, a.pattern));
