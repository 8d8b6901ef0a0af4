import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CoverageRecorder, machineTransitions, transitionTaken } from '../../harness/coverage';
import { commandsArb, runScenario, setupArb } from '../../harness/fuzz';
import { FULL_PROFILE } from '../../harness/model';
import { savedTraces } from '../../harness/regression';
import { runTrace } from '../../harness/runner';
import { sessionMachine } from '../../machines/session';
import { parseTrace } from '../../harness/trace';

/**
 * Every transition of the session machine (state, event, guarded branch) must
 * be taken by the fuzz corpus: the CI budget of generated traces (same
 * generator, seed and budget as the fuzz test) plus the saved traces in
 * harness/traces/. Transitions the hub can never produce are listed here
 * with the reason, and are checked never to be taken.
 */
const UNREACHABLE: Record<string, string> = {
  'rate-limited:PAUSE:0':
    'hub:pause spends a token first; when one is available the session leaves rate-limited (RATE_LIMIT_REFILLED) before the handler drives PAUSE, and without one the request is refused unprocessed.',
  'rate-limited:RESUME:0': 'hub:resume likewise: the session is registered or paused again before RESUME is driven.',
};

/** The CI corpus: the fuzz test's generator at its CI seed and budget (FC_SEED/FC_RUNS widen the fuzz test, not this). */
const params = { seed: 4_2026, numRuns: 200 };

describe('session machine transition coverage', () => {
  it('maps a machine step to the guarded branch it took', () => {
    const [limited] = [sessionMachine.resolveState({ value: 'rate-limited', context: {
      sessionId: 's', identity: '@(a)', capabilities: [], openedAt: 0, lastSeen: 0, connectDeadline: null,
      connectTimeoutMs: 1000, heartbeatTimeoutMs: 3000, rateLimitedUntil: 500, resumeTo: 'paused',
      closeDeadline: null, closeCode: null, closeReason: null, resumeGraceMs: 0, graceUntil: null,
    } })];
    expect(transitionTaken({ before: limited, event: { type: 'TICK', now: 100, pingAt: 50 } })).toBe('rate-limited:TICK:4');
    expect(transitionTaken({ before: limited, event: { type: 'TICK', now: 600, pingAt: null } })).toBe('rate-limited:TICK:2');
    expect(transitionTaken({ before: limited, event: { type: 'TICK', now: 3000, pingAt: null } })).toBe('rate-limited:TICK:1');
    // Branch 0 is the heartbeat timeout of a resumable session; this one has resume off.
    expect(transitionTaken({ before: { ...limited, context: { ...limited.context, resumeGraceMs: 1 } } as typeof limited, event: { type: 'TICK', now: 3000, pingAt: null } })).toBe('rate-limited:TICK:0');
    expect(transitionTaken({ before: limited, event: { type: 'CONNECT_ACCEPTED', now: 1, identity: '@(a)', capabilities: [] } })).toBeNull();
  });

  it('enumerates the transitions from the machine graph', () => {
    const all = machineTransitions();
    expect(all.length).toBeGreaterThan(40);
    expect(all.map((t) => t.key)).toEqual(expect.arrayContaining(['connecting:CONNECT_ACCEPTED:0', 'rate-limited:TICK:3', 'closing:TICK:0']));
    for (const key of Object.keys(UNREACHABLE)) expect(all.map((t) => t.key)).toContain(key);
  });

  it(`the fuzz corpus takes every reachable transition (${params.numRuns} generated traces + saved traces)`, async () => {
    const rec = new CoverageRecorder();
    const samples = fc.sample(fc.tuple(setupArb(FULL_PROFILE), commandsArb(80)), { seed: params.seed, numRuns: params.numRuns });
    let steps = 0;
    for (const [setup, cmds] of samples) {
      const hub = await runScenario(setup, cmds, { onTransition: rec.record, equivalence: false });
      steps += hub.steps.length;
    }
    const saved = savedTraces();
    for (const { trace } of saved) await runTrace(parseTrace(trace), { onTransition: rec.record });

    const all = machineTransitions();
    const missing = all.filter((t) => !rec.taken.has(t.key) && !(t.key in UNREACHABLE)).map((t) => t.key);
    const wronglyExcluded = Object.keys(UNREACHABLE).filter((key) => rec.taken.has(key));
    const covered = all.filter((t) => rec.taken.has(t.key)).length;
    console.log(
      `transition coverage: ${covered}/${all.length} taken, ${Object.keys(UNREACHABLE).length} unreachable by design, ` +
        `${samples.length} generated traces (${steps} steps) + ${saved.length} saved traces`,
    );
    expect(missing).toEqual([]);
    expect(wronglyExcluded).toEqual([]);
    expect(covered + Object.keys(UNREACHABLE).length).toBe(all.length);
  });
});
