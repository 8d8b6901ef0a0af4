import fc from 'fast-check';
import type { HubConfig } from '../src/config';
import { commandArbs } from './commands';
import { learnResume } from './commands/common';
import { OpenSocket } from './commands/open-socket';
import { FULL_PROFILE, liveClient, newModel, SLOTS, type FuzzProfile, type HubModel } from './model';
import { FuzzHub } from './system';
import type { RunOptions } from './runner';
import { formatTrace, type ConfigOverrides, type Trace } from './trace';

/**
 * The model-based protocol fuzzer: a generated hub configuration plus a
 * generated command sequence, run through the FuzzHub (which records the
 * trace and checks the invariants after every step), then settled and
 * replayed with and without evictions.
 */

export const FUZZ_START = 1_700_000_000_000;
export const FUZZ_SECRET = 'fuzz-secret';

export interface FuzzSetup {
  config: ConfigOverrides;
  confirmCloses: boolean;
  /** Clients opened and connected before the generated commands (shrinks towards none). */
  preconnect: number;
}

/**
 * Small limits so the interesting edges (rate limit, pause buffer overflow,
 * batches, backpressure, registry capacity, expiry, timeouts) are reached
 * within a few dozen commands, and defaults so ordinary traffic gets through.
 */
export const configArb = (profile: FuzzProfile): fc.Arbitrary<ConfigOverrides> =>
  fc
    .record({
      perSecond: fc.constantFrom(1, 2, 10, 1000),
      burst: fc.constantFrom(2, 5, 20, 1000),
      pauseBufferLimit: fc.constantFrom(1, 2, 3, 1000),
      batch: profile.time ? fc.constantFrom(1, 2, 100) : fc.constant(100),
      // 1: one batch per alarm run; 3 with batches of 1 or 2: a run sends several, then stops with work left.
      alarmLimit: fc.constantFrom(1, 3, 1000),
      queue: fc.constantFrom([2, 1], [3, 0], [1000, 250]),
      timeouts: fc.constantFrom([2_000, 1_000, 3_000], [10_000, 20_000, 60_000], [10_000, 20_000, 60_000]),
      ttl: fc.constantFrom([2, 5], [300, 3600]),
      registryLimit: fc.constantFrom(3, 50_000),
      maxBroadcastRecipients: fc.constantFrom(2, 10_000),
      logLevel: fc.constantFrom<HubConfig['logLevel']>('debug', 'info', 'error'),
      authEnabled: fc.oneof({ arbitrary: fc.constant(false), weight: 3 }, { arbitrary: fc.constant(true), weight: 1 }),
      restrictive: fc.boolean(),
    })
    .map((a) => {
      const [connectTimeoutMs, heartbeatIntervalMs, heartbeatTimeoutMs] = a.timeouts as [number, number, number];
      const c: ConfigOverrides = {
        maxMessageSize: 4096,
        rateLimitPerSecond: a.perSecond,
        rateLimitBurst: a.burst,
        pauseBufferLimit: a.pauseBufferLimit,
        broadcastSyncThreshold: a.batch,
        broadcastAlarmLimit: a.alarmLimit,
        queuePauseThreshold: a.queue[0]!,
        queueResumeThreshold: a.queue[1]!,
        connectTimeoutMs,
        heartbeatIntervalMs,
        heartbeatTimeoutMs,
        defaultActorTtlSeconds: a.ttl[0]!,
        maxActorTtlSeconds: a.ttl[1]!,
        cleanupIntervalMs: 1_000,
        registryLimit: a.registryLimit,
        maxBroadcastRecipients: a.maxBroadcastRecipients,
        logLevel: a.logLevel,
        authEnabled: a.authEnabled,
      };
      // Auth on: sessions without a permissions claim fall back to these defaults.
      if (a.authEnabled && a.restrictive) c.defaultPermissions = { publish: ['news'], broadcast: false };
      return c;
    });

export const setupArb = (profile: FuzzProfile): fc.Arbitrary<FuzzSetup> =>
  fc.record({
    config: configArb(profile),
    confirmCloses: profile.rawCloses ? fc.oneof({ arbitrary: fc.constant(true), weight: 3 }, { arbitrary: fc.constant(false), weight: 1 }) : fc.constant(true),
    preconnect: fc.oneof({ arbitrary: fc.integer({ min: 2, max: 3 }), weight: 3 }, { arbitrary: fc.integer({ min: 0, max: 1 }), weight: 1 }),
  });

export const commandsArb = (maxCommands: number, without: readonly string[] = []) =>
  fc.commands(commandArbs(without), { maxCommands, size: 'max' });

export interface ScenarioOptions {
  profile?: FuzzProfile;
  /** Flush what can be flushed, then require every ask to be answered (needs simulated time). */
  settle?: boolean;
  /** Replay the recorded trace with and without evictions and compare. */
  equivalence?: boolean;
  /** Sees every session-machine step of the run (coverage). */
  onTransition?: RunOptions['onTransition'];
  /** Simulated epoch ms at the start (the differential starts near the real time). */
  startTime?: number;
}

/** A failure of a fuzz run, carrying the trace that produced it. */
export class FuzzFailure extends Error {
  constructor(
    readonly original: unknown,
    readonly trace: Trace,
  ) {
    super(original instanceof Error ? original.message : String(original));
    if (original instanceof Error && original.stack) this.stack = `${this.message}\n${original.stack.split('\n').slice(1).join('\n')}`;
  }
}

/** Runs one generated scenario; throws FuzzFailure (with the trace) on any violated invariant. */
export const runScenario = async (
  setup: FuzzSetup,
  cmds: Iterable<fc.AsyncCommand<HubModel, FuzzHub, false>>,
  options: ScenarioOptions = {},
): Promise<FuzzHub> => {
  const profile = options.profile ?? FULL_PROFILE;
  const r = new FuzzHub({
    name: 'fuzz',
    seed: 1,
    startTime: options.startTime ?? FUZZ_START,
    config: setup.config,
    jwtSecret: FUZZ_SECRET,
    confirmCloses: setup.confirmCloses,
  }, options.onTransition ? { onTransition: options.onTransition } : {});
  const m = newModel(r.config, profile, setup.confirmCloses, r.now);
  try {
    for (let slot = 0; slot < Math.min(setup.preconnect, SLOTS); slot++) {
      await new OpenSocket(slot, true).run(m, r);
    }
    await fc.asyncModelRun(() => ({ model: m, real: r }), cmds);
    if (options.settle ?? profile.time) await settle(m, r);
    if (options.settle ?? profile.time) r.checkAllAnswered();
    if (options.equivalence ?? true) await r.checkHibernationEquivalence();
  } catch (err) {
    throw new FuzzFailure(err, r.trace());
  }
  return r;
};

/**
 * After the generated commands: time passes so buckets refill and queued
 * batches drain, then every live client resumes, which flushes anything
 * held for it. What is still unanswered after that was lost.
 */
const settle = async (m: HubModel, r: FuzzHub): Promise<void> => {
  await r.step(m, { op: 'advance', ms: 3_000 });
  for (let slot = 0; slot < SLOTS; slot++) {
    const c = liveClient(m, slot);
    if (c) await r.request(m, c, 'hub:resume', null, {}, learnResume(c));
  }
  await r.step(m, { op: 'advance', ms: 0 });
};

// ------------------------------------------------------------------ run budget and reporting

export interface FuzzParams {
  seed: number;
  numRuns: number;
  path?: string;
}

const envNumber = (name: string): number | undefined => {
  const raw = typeof process !== 'undefined' ? process.env[name] : undefined;
  if (raw === undefined || raw === '') return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n)) throw new Error(`${name} must be an integer, got ${raw}`);
  return n;
};

/** CI defaults, overridden by FC_SEED / FC_RUNS (and FC_PATH to replay one failing case). */
export const fuzzParams = (defaults: { seed: number; numRuns: number }): FuzzParams => {
  const path = typeof process !== 'undefined' ? process.env.FC_PATH : undefined;
  return {
    seed: envNumber('FC_SEED') ?? defaults.seed,
    numRuns: envNumber('FC_RUNS') ?? defaults.numRuns,
    ...(path ? { path } : {}),
  };
};

/** Where a failing run's trace is written ($FUZZ_FAILURE_DIR, else the system's temp dir), for `npm run replay -- <file>`. */
export const failureFile = async (seed: number): Promise<string> => {
  const env = typeof process !== 'undefined' ? process.env.FUZZ_FAILURE_DIR : undefined;
  const dir = env || `${(await import('node:os')).tmpdir()}/signal-hub-fuzz`;
  return `${dir}/trace-seed${seed}.json`;
};

/**
 * fast-check reporter: on failure prints the seed and path to reproduce with,
 * the shrunk command list and the shrunk trace as JSON, and writes the trace
 * to a file for `npm run replay`.
 */
export const traceReporter =
  (label: string) =>
  async <T>(details: fc.RunDetails<T>): Promise<void> => {
    if (!details.failed) return;
    const base = (await fc.asyncDefaultReportMessage(details)) ?? 'property failed';
    const err = details.errorInstance;
    const violation = err instanceof Error ? err.message : String(err);
    const lines = [
      `${label}: ${base}`,
      '',
      `violation: ${violation}`,
      `reproduce: FC_SEED=${details.seed} FC_PATH=${details.counterexamplePath ?? ''}`,
    ];
    if (err instanceof FuzzFailure) {
      const json = formatTrace({ ...err.trace, name: `${label} seed ${details.seed} path ${details.counterexamplePath ?? ''}` });
      let file = '';
      try {
        const fs = await import('node:fs');
        file = await failureFile(details.seed);
        fs.mkdirSync(file.slice(0, file.lastIndexOf('/')), { recursive: true });
        fs.writeFileSync(file, json);
      } catch {
        file = '';
      }
      lines.push(
        `shrunk trace: ${err.trace.steps.length} steps${file ? `, written to ${file} (replay: npm run replay -- ${file})` : ''}`,
        json,
      );
    }
    const message = lines.join('\n');
    console.error(message);
    throw new Error(message);
  };
