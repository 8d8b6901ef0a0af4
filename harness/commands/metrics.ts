import fc from 'fast-check';
import { violate } from '../invariants';
import type { HubModel } from '../model';
import type { FuzzHub } from '../system';
import { ClientCommand, describe, patternArb, slotArb, tellMark } from './common';

/** hub:metrics: counters are whole numbers and never go backwards. */
export class Metrics extends ClientCommand {
  async run(m: HubModel, r: FuzzHub): Promise<void> {
    const { reply } = await this.exchange(m, r, this.client(m), 'hub:metrics', null, ['hub:metrics_response', 'hub:error', 'hub:unauthorized']);
    if (reply?.type !== 'hub:metrics_response') return;
    const counters = reply.payload as Record<string, number>;
    for (const [k, v] of Object.entries(counters)) {
      if (!Number.isInteger(v) || v < 0) violate('metrics', `${k} is ${v}`);
    }
    for (const k of ['messagesReceived', 'messagesSent', 'errors', 'connectionsOpened', 'connectionsClosed']) {
      const before = r.lastMetrics[k];
      if (before !== undefined && (counters[k] ?? 0) < before) violate('metrics', `${k} went backwards: ${before} -> ${counters[k]}`);
    }
    Object.assign(r.lastMetrics, counters);
  }

  toString(): string {
    return describe('metrics', this.slot, tellMark(this.pattern));
  }
}

export const metricsArb = fc.record({ slot: slotArb, pattern: patternArb }).map((a) => new Metrics(a.slot, a.pattern));
