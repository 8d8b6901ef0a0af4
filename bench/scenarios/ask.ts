/** Scenario `ask`: A asks B, B answers, K sequential round trips. */
import { performance } from 'node:perf_hooks';
import type { Frame } from '../../harness/net/ws-client';
import { collect, percentile, type Runs, type Side } from '../report';
import { alternate, leave, room, type Scenario, type Target } from '../targets';
import type { Options } from '../options';

/**
 * The application message inside a frame: the hub forwards it as its own
 * envelope, the baseline hands over the sender's hub:send-shaped body as is.
 */
const appMessage = (side: Side, f: Frame): { type: unknown; data: any } =>
  side === 'hub' ? { type: f.type, data: f.payload } : { type: f.payload?.type, data: f.payload?.data };

/** A asks B and B answers; K sequential round trips after a short warm-up. */
const askRun = async (t: Target, o: Options): Promise<Runs> => {
  const r = room('ask');
  const a = await t.join(r, 'a');
  const b = await t.join(r, 'b');
  const warmup = Math.min(10, o.asks);
  const samples: number[] = [];
  let answering = true;
  // B answers every question it gets until the measure is over.
  const answerer = (async () => {
    while (answering) {
      let q: Frame;
      try {
        q = await b.client.next((f) => appMessage(t.side, f).type === 'bench.ask', 500);
      } catch {
        continue;
      }
      t.tell(b, a, 'bench.answer', appMessage(t.side, q).data);
    }
  })();
  try {
    for (let k = 0; k < warmup + o.asks; k++) {
      const t0 = performance.now();
      t.tell(a, b, 'bench.ask', { k }, true);
      await a.client.next((f) => {
        const m = appMessage(t.side, f);
        return m.type === 'bench.answer' && m.data?.k === k;
      }, 10_000);
      if (k >= warmup) samples.push(performance.now() - t0);
      // Delivery acks and anything else A got are not part of the measure.
      a.client.pending.length = 0;
      a.client.events.length = 0;
    }
  } finally {
    answering = false;
    await answerer;
    await leave([a, b]);
  }
  return { p50: percentile(samples, 50) ?? Number.NaN, p95: percentile(samples, 95) ?? Number.NaN, p99: percentile(samples, 99) ?? Number.NaN };
};

export const ask: Scenario = async ({ name, targets, o, report }) => {
  const runs = await alternate(targets, o, (t) => askRun(t, o));
  report.metrics.push(
    ...collect(name, `ask A->B->A, ${o.asks} sequential`, [
      { key: 'p50', metric: 'p50 ms', unit: 'ms', better: 'lower' },
      { key: 'p95', metric: 'p95 ms', unit: 'ms', better: 'lower' },
      { key: 'p99', metric: 'p99 ms', unit: 'ms', better: 'lower' },
    ], runs),
  );
};
