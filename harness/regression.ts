import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { firstDifference, recordedOutputs, runTrace, type RunOptions, type StepReport } from './runner';
import { parseTrace, type Trace } from './trace';

/**
 * Saved traces (harness/traces/*.json) as regression tests: each is replayed
 * as recorded, with an eviction before every step and with its eviction
 * steps skipped; all three must reproduce the recorded outputs byte for byte,
 * and the model-free invariants must hold on every step.
 */

export const TRACES_DIR = new URL('./traces/', import.meta.url);

export const savedTraces = (dir: URL | string = TRACES_DIR): { file: string; trace: Trace }[] => {
  const path = typeof dir === 'string' ? dir : dir.pathname;
  return readdirSync(path)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((file) => ({ file, trace: parseTrace(readFileSync(join(path, file), 'utf8')) }));
};

/** Invariants that need no model: nothing escapes the core, nothing is sent after a close but late answers. */
export const traceViolations = (reports: StepReport[]): string[] => {
  const problems: string[] = [];
  for (const r of reports) {
    if (r.outputs.error) problems.push(`step ${r.index}: exception escaped the core: ${r.outputs.error}`);
    for (const send of r.sends) {
      if (send.closedBy === null) continue;
      let frame: { correlationId?: unknown; metadata?: { forwarded?: unknown }; type?: unknown };
      try {
        frame = JSON.parse(send.frame) as typeof frame;
      } catch {
        problems.push(`step ${r.index}: non-JSON frame to ${send.socket}`);
        continue;
      }
      if (frame.metadata?.forwarded === true || frame.correlationId === null) {
        problems.push(`step ${r.index}: ${String(frame.type)} sent to ${send.socket} after it was closed by ${send.closedBy}`);
      }
    }
  }
  return problems;
};

export interface RegressionResult {
  differences: string[];
  violations: string[];
}

export const checkSavedTrace = async (trace: Trace, options: RunOptions = {}): Promise<RegressionResult> => {
  const expected = recordedOutputs(trace);
  const differences: string[] = [];
  const modes: [string, RunOptions][] = [
    ['as recorded', {}],
    ['hibernating before every step', { hibernateBetweenSteps: true }],
    ['never hibernating', { skipHibernateSteps: true }],
  ];
  let violations: string[] = [];
  for (const [label, mode] of modes) {
    const { outputs, reports } = await runTrace(trace, { ...options, ...mode });
    const diff = firstDifference(trace, expected, outputs, ['recorded', label]);
    if (diff) differences.push(diff);
    if (label === 'as recorded') violations = traceViolations(reports);
  }
  return { differences, violations };
};
