import fc from 'fast-check';
import { violate } from '../invariants';
import type { HubModel } from '../model';
import type { FuzzHub } from '../system';
import { ClientCommand, describe, learnPause, patternArb, slotArb, tellMark } from './common';

/** hub:pause: the hub holds deliveries to this session (up to PAUSE_BUFFER_LIMIT). */
export class Pause extends ClientCommand {
  async run(m: HubModel, r: FuzzHub): Promise<void> {
    const c = this.client(m);
    const { reply } = await this.exchange(m, r, c, 'hub:pause', { reason: 'busy' }, ['hub:paused', 'hub:error', 'hub:unauthorized'], {}, learnPause(c));
    if (reply?.type === 'hub:paused' && reply.payload.bufferLimit !== m.config.pauseBufferLimit) {
      violate('model', `hub:paused reports bufferLimit ${reply.payload.bufferLimit}`);
    }
  }

  toString(): string {
    return describe('pause', this.slot, tellMark(this.pattern));
  }
}

export const pauseArb = fc.record({ slot: slotArb, pattern: patternArb }).map((a) => new Pause(a.slot, a.pattern));
