import { writeFileSync } from 'node:fs';
import fc from 'fast-check';
import { CoverageRecorder } from './coverage';
import { commandsArb, runScenario, setupArb, FuzzFailure } from './fuzz';
import { FULL_PROFILE } from './model';
import { recordedOutputs } from './runner';
import { formatTrace, withRecordedOutputs, type Trace } from './trace';

/**
 * Finds the shortest generated trace that takes a given session-machine
 * transition: the property "no run takes it" is handed to fast-check, whose
 * shrinker then minimises the counterexample. The result can be saved in
 * harness/traces/ so the coverage test reaches rare transitions every time.
 *
 *   npx tsx harness/find-transition.ts rate-limited:TICK:0 [runs] [seed] > harness/traces/cover-....json
 */
export const findTransition = async (key: string, numRuns: number, seed: number): Promise<Trace | null> => {
  let found: Trace | null = null;
  const property = fc.asyncProperty(setupArb(FULL_PROFILE), commandsArb(80), async (setup, cmds) => {
    const rec = new CoverageRecorder();
    let hub;
    try {
      hub = await runScenario(setup, cmds, { onTransition: rec.record, settle: false, equivalence: false });
    } catch (err) {
      // An invariant failure is the fuzz suite's business, not ours: keep looking.
      if (err instanceof FuzzFailure) return true;
      throw err;
    }
    if (!rec.taken.has(key)) return true;
    found = hub.trace();
    return false;
  });
  const details = await fc.check(property, { numRuns, seed });
  if (!details.failed || !details.counterexample) return null;
  // The last run that took the transition is the shrunk counterexample.
  const [setup, cmds] = details.counterexample;
  const rec = new CoverageRecorder();
  const hub = await runScenario(setup, cmds, { onTransition: rec.record, settle: false, equivalence: false });
  if (!rec.taken.has(key)) return found;
  const trace = hub.trace();
  return withRecordedOutputs({ ...trace, name: `covers ${key}` }, recordedOutputs(trace));
};

const isMain = typeof process !== 'undefined' && process.argv[1]?.endsWith('find-transition.ts');
if (isMain) {
  const [key, runs, seed, out] = process.argv.slice(2);
  if (!key) {
    console.error('usage: npx tsx harness/find-transition.ts <state:EVENT:branch> [runs] [seed] [out.json]');
    process.exit(2);
  }
  findTransition(key, Number(runs ?? 2000), Number(seed ?? 1)).then((trace) => {
    if (!trace) {
      console.error(`no generated trace took ${key}`);
      process.exit(1);
    }
    const json = formatTrace(trace);
    if (out) writeFileSync(out, json);
    else process.stdout.write(json);
    console.error(`${key}: ${trace.steps.length} steps`);
  });
}
