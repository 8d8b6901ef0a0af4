import fc from 'fast-check';
import { violate } from '../invariants';
import { openClient, type HubModel } from '../model';
import type { FuzzHub } from '../system';
import { HubCommand, expectReplyType, patternArb, slotArb } from './common';

/** hub:queue_stats: real numbers within the configured bounds. */
export class QueueStats extends HubCommand {
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
    const res = await r.request(m, c, 'hub:queue_stats', null, { pattern: this.pattern });
    const reply = expectReplyType(res, 'queue_stats', ['hub:queue_stats_response', 'hub:error', 'hub:unauthorized']);
    if (reply?.type !== 'hub:queue_stats_response') return;
    const p = reply.payload as Record<string, unknown>;
    for (const k of ['queueDepth', 'processingRate', 'pauseThreshold', 'resumeThreshold']) {
      if (typeof p[k] !== 'number' || !Number.isFinite(p[k]) || (p[k] as number) < 0) violate('model', `queue_stats ${k} is ${String(p[k])}`);
    }
    if ((p.buffered as number) > m.config.pauseBufferLimit) violate('pause-buffer', `queue_stats reports ${String(p.buffered)} buffered`);
    if (p.paused !== true && c.paused) violate('model', 'queue_stats says not paused after the client paused');
  }

  toString(): string {
    return `queue_stats(${this.slot}${this.pattern === 'tell' ? ', tell' : ''})`;
  }
}

export const queueStatsArb = fc.record({ slot: slotArb, pattern: patternArb }).map((a) => new QueueStats(a.slot, a.pattern));
