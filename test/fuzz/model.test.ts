import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { commandsArb, fuzzParams, runScenario, setupArb, traceReporter } from '../../harness/fuzz';
import { FULL_PROFILE } from '../../harness/model';

/**
 * The model-based protocol fuzz (issue 4). CI runs a fixed seed and budget;
 * FC_SEED / FC_RUNS explore further, FC_PATH replays one failing case.
 */
const params = fuzzParams({ seed: 4_2026, numRuns: 200 });

describe('protocol fuzz', () => {
  it(`every invariant holds over ${params.numRuns} generated multi-client traces (seed ${params.seed})`, async () => {
    let runs = 0;
    let steps = 0;
    await fc.assert(
      fc.asyncProperty(setupArb(FULL_PROFILE), commandsArb(80), async (setup, cmds) => {
        const hub = await runScenario(setup, cmds);
        runs++;
        steps += hub.steps.length;
      }),
      { ...params, asyncReporter: traceReporter('protocol fuzz') },
    );
    console.log(`protocol fuzz: ${runs} traces, ${steps} steps (seed ${params.seed})`);
    expect(runs).toBe(params.numRuns);
  }, Math.max(110_000, params.numRuns * 300));
});
