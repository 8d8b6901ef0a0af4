import { readFileSync, writeFileSync } from 'node:fs';
import { inspectTransitions, replay, verdictLine } from '../harness/replay';
import { formatTrace, parseTrace, TraceError, withRecordedOutputs } from '../harness/trace';

/**
 * npm run replay -- <trace.json> [--inspect] [--hibernate] [--record]
 *
 * Replays a recorded or hand-written trace against the hub core on the
 * simulated clock and prints every step with what the hub sent and closed.
 * If the trace carries recorded outputs, a difference is reported and the
 * exit code is 1. --hibernate evicts the object before every step (the
 * outputs must not change). --inspect also replays each session's machine
 * events through an xstate actor and prints its inspection events
 * (@xstate.actor / @xstate.event / @xstate.snapshot) as JSON lines.
 * --record writes the replayed outputs into the trace file (to save a new
 * regression trace, or to accept an intended change of behaviour).
 */
const main = async (): Promise<number> => {
  const args = process.argv.slice(2);
  const file = args.find((a) => !a.startsWith('--'));
  const flags = new Set(['--inspect', '--hibernate', '--record']);
  const unknown = args.filter((a) => a.startsWith('--') && !flags.has(a));
  if (!file || unknown.length > 0) {
    console.error('usage: npm run replay -- <trace.json> [--inspect] [--hibernate] [--record]');
    return 2;
  }
  let trace;
  try {
    trace = parseTrace(readFileSync(file, 'utf8'));
  } catch (err) {
    console.error(err instanceof TraceError ? err.message : String(err));
    return 2;
  }
  const result = await replay(trace, { hibernateBetweenSteps: args.includes('--hibernate') });
  for (const line of result.lines) console.log(line);
  if (args.includes('--inspect')) {
    console.log('--- inspection events (JSON lines) ---');
    const { mismatches } = inspectTransitions(result.transitions, (line) => console.log(line));
    for (const m of mismatches) console.error(`actor disagrees with the core: ${m}`);
    if (mismatches.length > 0) return 1;
  }
  if (args.includes('--record')) {
    writeFileSync(file, formatTrace(withRecordedOutputs(trace, result.outputs)));
    console.log(`recorded the outputs of ${trace.steps.length} steps into ${file}`);
    return 0;
  }
  if (result.mismatch) {
    console.error(`outputs differ from the recorded ones:\n${result.mismatch}`);
  }
  console.log(verdictLine(result));
  return result.mismatch ? 1 : 0;
};

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
