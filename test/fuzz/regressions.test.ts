import { describe, expect, it } from 'vitest';
import { checkSavedTrace, savedTraces } from '../../harness/regression';

/**
 * Every trace saved in harness/traces/ (bugs the fuzzer found, and traces
 * that reach rare machine transitions) must reproduce its recorded outputs
 * byte for byte, awake and with an eviction before every step.
 */
const traces = savedTraces();

describe('saved traces', () => {
  it('there are saved traces, including the bugs the fuzzer found', () => {
    expect(traces.filter((t) => t.file.startsWith('bug-')).length).toBeGreaterThanOrEqual(2);
  });

  it.each(traces.map((t) => [t.file, t.trace] as const))('%s replays as recorded', async (_file, trace) => {
    expect(trace.steps.some((s) => s.outputs !== undefined)).toBe(true);
    const { differences, violations } = await checkSavedTrace(trace);
    expect(violations).toEqual([]);
    expect(differences).toEqual([]);
  });
});
