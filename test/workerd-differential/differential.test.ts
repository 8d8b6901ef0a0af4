import { env } from 'cloudflare:workers';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compareTranscripts, expectedCounts, transcriptOf, type Transcript } from '../../harness/differential';
import { commandsArb, runScenario, type FuzzSetup } from '../../harness/fuzz';
import { DIFFERENTIAL_PROFILE } from '../../harness/model';
import type { Trace } from '../../harness/trace';
import { parseConfig } from '../../src/config';
import { WorkerdClient, freshHub, hibernate, sleep } from '../workerd/hub-client';

/**
 * Differential check (issue 4): generated traces run once against the hub
 * core in the fake Durable Object and once against the real Durable Object
 * in workerd over real WebSockets; every socket must see the same frames and
 * the same closes, modulo generated ids, tokens and clock readings.
 *
 * The traces use what both worlds can do alike: no clock jumps or alarm
 * firings (workerd's clock is real), no shutdown (no runtime event triggers
 * it), no hub-issued tokens reused in later frames (the real hub issues
 * different ones), browser-legal close codes, frames within the runtime's
 * size limit, and few enough frames per client that the real clock never
 * matters to the rate limit. The fake runs with the worker's own config.
 */

const TRACES = 24;
const EXEMPT = new Set(['hub:connect', 'hub:heartbeat', 'hub:disconnect']);

/**
 * The prefix of a trace in which no client spends more rate-limit tokens than
 * its bucket holds: beyond that, the real clock (which moves during the run)
 * would refill the bucket where the simulated one stands still.
 */
const withinBucket = (trace: Trace, burst: number): Trace => {
  const spent = new Map<string, number>();
  const end = trace.steps.findIndex((step) => {
    if (step.op !== 'frame' && step.op !== 'binary') return false;
    let type: unknown = null;
    try {
      type = step.op === 'frame' ? (JSON.parse(step.text) as { type?: unknown }).type : null;
    } catch {
      type = null;
    }
    if (step.op === 'frame' && step.text === '{"type":"ping"}') return false;
    if (typeof type === 'string' && EXEMPT.has(type)) return false;
    const n = (spent.get(step.socket) ?? 0) + 1;
    spent.set(step.socket, n);
    return n > burst - 2;
  });
  return end < 0 ? trace : { ...trace, steps: trace.steps.slice(0, end) };
};
const SEED = 20_261_127;

const decode = (b64: string): ArrayBuffer => {
  const bin = atob(b64);
  const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  return bytes.buffer;
};

/** Waits until `probe` holds or `ms` pass; returns whether it held. */
const until = async (probe: () => boolean, ms: number): Promise<boolean> => {
  const deadline = Date.now() + ms;
  while (!probe()) {
    if (Date.now() > deadline) return false;
    await sleep(5);
  }
  return true;
};

/** Runs a trace against a fresh real hub and returns what each socket saw. */
const runInWorkerd = async (trace: Trace): Promise<Transcript> => {
  const hub = freshHub('differential');
  const clients = new Map<string, WorkerdClient>();
  const closedByClient = new Set<string>();
  const counts = expectedCounts(trace);
  for (const [i, step] of trace.steps.entries()) {
    const client = 'socket' in step ? clients.get(step.socket) : undefined;
    switch (step.op) {
      case 'open':
        clients.set(step.socket, await WorkerdClient.open(hub, '@(differential)'));
        break;
      case 'frame':
        client!.sendRaw(step.text);
        break;
      case 'binary':
        client!.sendRaw(decode(step.base64));
        break;
      case 'hibernate':
        await hibernate(hub);
        break;
      case 'close':
        closedByClient.add(step.socket);
        client!.close(step.code);
        // The hub answers the close in the same turn in which it releases the session.
        await client!.waitClosed(3_000);
        break;
      default:
        throw new Error(`step ${i}: ${step.op} cannot run against the real Durable Object`);
    }
    // Wait for what the core produced at this step, so the next step starts from the same state.
    const want = counts[i]!;
    const closes = Object.keys(step.outputs?.closes ?? {});
    const settled = await until(
      () =>
        Object.entries(want).every(([s, n]) => (clients.get(s)?.events.filter((e) => e.kind === 'frame').length ?? 0) >= n) &&
        closes.every((s) => clients.get(s)?.closed !== null),
      3_000,
    );
    if (!settled || Object.keys(step.outputs?.frames ?? {}).length === 0) await sleep(20);
  }
  await sleep(150);
  const t: Transcript = {};
  for (const [name, client] of clients) {
    const close = client.events.find((e) => e.kind === 'close');
    t[name] = {
      frames: client.events.flatMap((e) => (e.kind === 'frame' ? [e.frame] : [])),
      close: close && close.kind === 'close' && !closedByClient.has(name) ? { code: close.code, reason: close.reason } : null,
    };
  }
  for (const client of clients.values()) if (!client.closed) client.close(1000);
  return t;
};

describe('differential: hub core in the fake object vs the real Durable Object', () => {
  const config = parseConfig(env as unknown as Record<string, unknown>);
  const setupArb: fc.Arbitrary<FuzzSetup> = fc.record({
    config: fc.constant({ ...config }),
    confirmCloses: fc.constant(true),
    preconnect: fc.integer({ min: 1, max: 3 }),
  });
  const samples = fc.sample(fc.tuple(setupArb, commandsArb(40)), { seed: SEED, numRuns: TRACES });

  it.each(samples.map((s, i) => [i, s] as const))('generated trace %i gives the same transcript', async (_i, [setup, cmds]) => {
    const fuzzed = await runScenario(setup, cmds, { profile: DIFFERENTIAL_PROFILE, settle: false, startTime: Date.now() });
    const trace = withinBucket(fuzzed.trace(), config.rateLimitBurst);
    expect(trace.steps.length).toBeGreaterThan(1);
    const core = transcriptOf(trace);
    const real = await runInWorkerd(trace);
    const diff = compareTranscripts(core, real);
    if (diff) console.error(`trace:\n${JSON.stringify(trace)}`);
    expect(diff).toBeNull();
    const frames = Object.values(real).reduce((n, s) => n + s.frames.length, 0);
    const closes = Object.values(real).filter((s) => s.close !== null).length;
    console.log(`differential trace ${_i}: ${trace.steps.length} steps, ${frames} frames and ${closes} hub closes agree`);
    expect(frames).toBeGreaterThan(0);
  });
});
