import fc from 'fast-check';
import { violate } from '../invariants';
import type { HubModel } from '../model';
import type { FuzzHub } from '../system';
import { ClientCommand, describe, patternArb, slotArb, tellMark } from './common';

/** hub:queue_stats: real numbers within the configured bounds. */
export class QueueStats extends ClientCommand {
  async run(m: HubModel, r: FuzzHub): Promise<void> {
    const c = this.client(m);
    const { reply } = await this.exchange(m, r, c, 'hub:queue_stats', null, ['hub:queue_stats_response', 'hub:error', 'hub:unauthorized']);
    if (reply?.type !== 'hub:queue_stats_response') return;
    const p = reply.payload as Record<string, unknown>;
    for (const k of ['queueDepth', 'processingRate', 'pauseThreshold', 'resumeThreshold']) {
      if (typeof p[k] !== 'number' || !Number.isFinite(p[k]) || (p[k] as number) < 0) violate('model', `queue_stats ${k} is ${String(p[k])}`);
    }
    if ((p.buffered as number) > m.config.pauseBufferLimit) violate('pause-buffer', `queue_stats reports ${String(p.buffered)} buffered`);
    if (p.paused !== true && c.paused) violate('model', 'queue_stats says not paused after the client paused');
  }

  toString(): string {
    return describe('queue_stats', this.slot, tellMark(this.pattern));
  }
}

export const queueStatsArb = fc.record({ slot: slotArb, pattern: patternArb }).map((a) => new QueueStats(a.slot, a.pattern));
