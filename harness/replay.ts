import { createActor, type InspectionEvent } from 'xstate';
import { sessionMachine, type SessionEvent } from '../machines/session';
import { firstDifference, recordedOutputs, runTrace, type ObservedTransition, type RunOptions } from './runner';
import { describeStep, isEmptyOutputs, type StepOutputs, type Trace } from './trace';

/**
 * What `npm run replay` does, as functions the tests can call: run a trace,
 * print every step with what the hub sent and closed, compare with the
 * outputs recorded in the trace, and optionally replay each session's
 * machine events through a live xstate actor whose inspection stream can be
 * watched (here printed as JSON lines in the Stately inspection format).
 */

export interface ReplayResult {
  lines: string[];
  outputs: StepOutputs[];
  transitions: ObservedTransition[];
  /** First difference from the outputs recorded in the trace, if the trace has any and they differ. */
  mismatch: string | null;
  /** Whether the trace carries recorded outputs at all, so that no mismatch can be told from nothing to compare. */
  hasRecorded: boolean;
}

/** The one line `npm run replay` ends with, so a reader need not scan the steps to know the outcome. */
export const verdictLine = (result: Pick<ReplayResult, 'mismatch' | 'hasRecorded' | 'outputs'>): string => {
  // The difference itself spans lines (recorded and replayed frames); the verdict names where it is.
  if (result.mismatch) return `verdict: outputs differ from the recorded trace; first difference: ${result.mismatch.split('\n')[0]}`;
  if (!result.hasRecorded) return `verdict: ${result.outputs.length} steps replayed; the trace has no recorded outputs to compare (--record saves them)`;
  return `verdict: outputs match the recorded trace (${result.outputs.length} steps)`;
};

const summarise = (frame: string): string => {
  try {
    const f = JSON.parse(frame) as Record<string, unknown>;
    if (f.type === 'pong' && Object.keys(f).length === 1) return 'pong';
    const corr = f.correlationId ? ` re ${String(f.correlationId)}` : '';
    const payload = JSON.stringify(f.payload);
    return `${String(f.type)}${corr} from ${String(f.from)} to ${String(f.to)} ${payload.length > 200 ? `${payload.slice(0, 200)}…` : payload}`;
  } catch {
    return frame;
  }
};

export const formatOutputs = (o: StepOutputs, indent = '    '): string[] => {
  const lines: string[] = [];
  for (const [socket, frames] of Object.entries(o.frames ?? {})) for (const f of frames) lines.push(`${indent}${socket} -> ${summarise(f)}`);
  for (const [socket, c] of Object.entries(o.closes ?? {})) lines.push(`${indent}${socket} closed by the hub: ${c.code} ${c.reason}`);
  for (const [socket, frames] of Object.entries(o.dropped ?? {})) {
    for (const f of frames) lines.push(`${indent}${socket} (already closed) dropped: ${summarise(f)}`);
  }
  if (o.error) lines.push(`${indent}EXCEPTION escaped the core: ${o.error}`);
  return lines;
};

export const replay = async (trace: Trace, options: RunOptions = {}): Promise<ReplayResult> => {
  const transitions: ObservedTransition[] = [];
  const { outputs } = await runTrace(trace, {
    ...options,
    onTransition: (t) => {
      transitions.push(t);
      options.onTransition?.(t);
    },
  });
  const lines: string[] = [];
  if (trace.name) lines.push(`trace: ${trace.name}`);
  if (trace.description) lines.push(trace.description);
  if (Object.keys(trace.config).length > 0) lines.push(`config: ${JSON.stringify(trace.config)}`);
  trace.steps.forEach((step, i) => {
    lines.push(`#${i} ${describeStep(step)}`);
    const o = outputs[i]!;
    if (isEmptyOutputs(o)) lines.push('    (no output)');
    else lines.push(...formatOutputs(o));
    for (const t of transitions) {
      if (t.stepIndex !== i || t.before.value === t.after.value) continue;
      lines.push(`    [${t.socket}] ${String(t.before.value)} --${t.event.type}--> ${String(t.after.value)}`);
    }
  });
  const recorded = recordedOutputs(trace);
  const hasRecorded = recorded.some((o) => o !== undefined);
  const mismatch = hasRecorded ? firstDifference(trace, recorded, outputs, ['recorded', 'replayed']) : null;
  return { lines, outputs, transitions, mismatch, hasRecorded };
};

/** The inspection events a Stately inspector needs to draw actors, their events and their states. */
const INSPECTED = new Set(['@xstate.actor', '@xstate.event', '@xstate.snapshot']);

/** A JSON-safe view of one xstate inspection event, in the shape Stately's inspector consumes. */
export const inspectionRecord = (ev: InspectionEvent): Record<string, unknown> => {
  // actorId is the socket's name in the trace; sessionId is xstate's own id of the actor.
  const base = { type: ev.type, actorId: (ev.actorRef as { id?: string }).id ?? null, sessionId: ev.actorRef.sessionId, rootId: ev.rootId };
  switch (ev.type) {
    case '@xstate.actor':
      return { ...base, definition: (ev.actorRef as { logic?: { id?: string } }).logic?.id ?? null };
    case '@xstate.event':
      return { ...base, sourceId: ev.sourceRef?.sessionId ?? null, event: ev.event };
    case '@xstate.snapshot': {
      const snap = ev.snapshot as { value?: unknown; context?: unknown; status?: unknown };
      return { ...base, event: ev.event, snapshot: { value: snap.value, status: snap.status, context: snap.context } };
    }
    default:
      return { ...base };
  }
};

/**
 * Feeds each session's machine events, in the order the core saw them,
 * through a live xstate actor with an `inspect` observer. The actor must
 * reach the same state and context as the core did after every event, so
 * what the inspector shows is exactly what the hub did.
 */
export const inspectTransitions = (transitions: ObservedTransition[], emit: (line: string) => void): { mismatches: string[] } => {
  const actors = new Map<string, ReturnType<typeof createActor<typeof sessionMachine>>>();
  const mismatches: string[] = [];
  for (const t of transitions) {
    let actor = actors.get(t.connId);
    if (!actor) {
      const ctx = t.before.context;
      actor = createActor(sessionMachine, {
        id: `${t.socket}`,
        input: { sessionId: ctx.sessionId, now: ctx.openedAt, connectTimeoutMs: ctx.connectTimeoutMs, heartbeatTimeoutMs: ctx.heartbeatTimeoutMs },
        inspect: (ev) => {
          if (INSPECTED.has(ev.type)) emit(JSON.stringify(inspectionRecord(ev)));
        },
      });
      actor.start();
      actors.set(t.connId, actor);
    }
    actor.send(t.event as SessionEvent);
    const snap = actor.getSnapshot();
    if (snap.value !== t.after.value || JSON.stringify(snap.context) !== JSON.stringify(t.after.context)) {
      mismatches.push(`${t.socket} after ${t.event.type} at step ${t.stepIndex}: actor ${String(snap.value)}, core ${String(t.after.value)}`);
    }
  }
  for (const actor of actors.values()) actor.stop();
  return { mismatches };
};
