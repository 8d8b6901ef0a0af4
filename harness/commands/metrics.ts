import fc from 'fast-check';
import { violate } from '../invariants';
import { openClient, type HubModel } from '../model';
import type { FuzzHub } from '../system';
import { HubCommand, expectReplyType, patternArb, slotArb } from './common';

/** hub:metrics: counters are whole numbers and never go backwards. */
export class Metrics extends HubCommand {
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
    const res = await r.request(m, c, 'hub:metrics', null, { pattern: this.pattern });
    const reply = expectReplyType(res, 'metrics', ['hub:metrics_response', 'hub:error', 'hub:unauthorized']);
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
    return `metrics(${this.slot}${this.pattern === 'tell' ? ', tell' : ''})`;
  }
}

export const metricsArb = fc.record({ slot: slotArb, pattern: patternArb }).map((a) => new Metrics(a.slot, a.pattern));
