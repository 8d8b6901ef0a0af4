import fc from 'fast-check';
import { violate } from '../invariants';
import { openClient, type HubModel } from '../model';
import type { FuzzHub } from '../system';
import { HubCommand, expectReplyType, patternArb, slotArb } from './common';

/** hub:pause: the hub holds deliveries to this session (up to PAUSE_BUFFER_LIMIT). */
export class Pause extends HubCommand {
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
    const res = await r.request(m, c, 'hub:pause', { reason: 'busy' }, { pattern: this.pattern });
    const reply = expectReplyType(res, 'pause', ['hub:paused', 'hub:error', 'hub:unauthorized']);
    if (reply?.type === 'hub:paused' && reply.payload.bufferLimit !== m.config.pauseBufferLimit) {
      violate('model', `hub:paused reports bufferLimit ${reply.payload.bufferLimit}`);
    }
  }

  toString(): string {
    return `pause(${this.slot}${this.pattern === 'tell' ? ', tell' : ''})`;
  }
}

export const pauseArb = fc.record({ slot: slotArb, pattern: patternArb }).map((a) => new Pause(a.slot, a.pattern));
