import { createActor, type ActorScope, type AnyStateNode, type ExecutableActionObject, type SnapshotFrom } from 'xstate';
import { armedUntil, sessionMachine, touchedLastSeen, type SessionContext, type SessionEvent, type SessionInput } from '../../machines/session';

/**
 * Stepping the session machine without building an actor per step.
 *
 * xstate's free `transition()` and `initialTransition()` create a fresh
 * inert actor on every call, and the Actor constructor computes a whole
 * initial snapshot for it (running the context factory, with no input). In
 * the Durable Object that was ~41 % of a routed frame's CPU (issue 11). The
 * machine is pure and has no children, invocations or delayed events, so
 * one inert scope serves every step: `machine.transition(snapshot, event,
 * scope)` is exactly what `transition()` runs inside, and the scope only
 * collects the actions the machine asks for, in order.
 *
 * Transitions that only update context (FRAME and HEARTBEAT are `touch`;
 * RATE_LIMIT_EXHAUSTED while already rate-limited is `armRateLimit`) are the
 * bulk of all steps: one or two per frame, and every refused frame of a
 * flood. They never change the state value, raise nothing and leave the
 * machine no effect to perform. Those are applied here directly, with the
 * machine's own functions (`touchedLastSeen`, `armedUntil`), producing the
 * snapshot xstate itself would (it clones the snapshot with the new
 * context). Which (state, event) pairs qualify is read from the machine
 * definition, not listed by hand: a transition that later gains a target,
 * guard or another action goes back through xstate on its own.
 * test/fuzz/step-equivalence.test.ts checks every step of the fuzz corpus
 * against xstate's `transition()`.
 *
 * Not re-entrant by construction: a step runs synchronously to completion
 * and hands its actions back as a fresh array before anyone can step again.
 */

export type SessionSnapshot = SnapshotFrom<typeof sessionMachine>;
export type MachineAction = ExecutableActionObject;

const collected: MachineAction[] = [];

/** Only used to give the scope a `self`; the machine never sends to it. */
const PLACEHOLDER_INPUT: SessionInput = { sessionId: '', now: 0, connectTimeoutMs: 0, heartbeatTimeoutMs: 0 };

let scope: ActorScope<SessionSnapshot, SessionEvent> | null = null;

/** Built on first use, not at module load, so importing the core stays free. */
const scopeOf = (): ActorScope<SessionSnapshot, SessionEvent> => {
  if (scope) return scope;
  const self = createActor(sessionMachine, { input: PLACEHOLDER_INPUT });
  scope = {
    self,
    id: '',
    sessionId: '',
    system: self.system,
    logger: () => {},
    defer: () => {},
    stopChild: () => {},
    emit: () => {},
    actionExecutor: (action: MachineAction) => {
      collected.push(action);
    },
  } as unknown as ActorScope<SessionSnapshot, SessionEvent>;
  return scope;
};

const drain = (): MachineAction[] => collected.splice(0, collected.length);

/** The machine's initial snapshot for a new connection (what `initialTransition` returns, minus the actor). */
export const newSnapshot = (
  sessionId: string,
  now: number,
  timeouts: { connectTimeoutMs: number; heartbeatTimeoutMs: number; resumeGraceMs?: number },
): SessionSnapshot => {
  const s = scopeOf();
  collected.length = 0;
  const snapshot = sessionMachine.getInitialSnapshot(s, {
    sessionId,
    now,
    connectTimeoutMs: timeouts.connectTimeoutMs,
    heartbeatTimeoutMs: timeouts.heartbeatTimeoutMs,
    resumeGraceMs: timeouts.resumeGraceMs ?? 0,
  });
  // The initial state has no entry actions that leave the machine; nothing to hand back.
  collected.length = 0;
  return snapshot;
};

/**
 * The context fields the shortcut actions may change. All of them are soft
 * state (docs/PROTOCOL.md §11): a step that changes only these is written
 * with the session's next flush, not in its own event, so the returned
 * action list is the marker `CONTEXT_ONLY`. Liveness only moves later and
 * `rateLimitedUntil` only while already rate-limited, so neither makes a
 * deadline earlier, and a crash that loses them costs a slightly early
 * heartbeat check or refill, never a state.
 */
export const SOFT_CONTEXT_FIELDS = ['lastSeen', 'rateLimitedUntil'] as const satisfies readonly (keyof SessionContext)[];

/** The actions of a step that changed nothing but soft context fields (compared by identity). */
export const CONTEXT_ONLY: MachineAction[] = Object.freeze([]) as unknown as MachineAction[];

/** Context-only actions of the machine, as plain functions of context and event. */
export const CONTEXT_ACTIONS: Record<string, (context: SessionContext, event: SessionEvent) => Partial<SessionContext>> = {
  touch: (context, event) => ({ lastSeen: touchedLastSeen(context, event.now) }),
  armRateLimit: (_context, event) => ({ rateLimitedUntil: armedUntil(event) }),
};

type Shortcut = ((context: SessionContext, event: SessionEvent) => Partial<SessionContext>)[] | null;
const shortcuts = new Map<string, Map<string, Shortcut>>();

/** The context-only actions `type` runs in `state`, or null when the step must go through xstate. */
const shortcutFor = (state: string, type: string): Shortcut => {
  let byType = shortcuts.get(state);
  if (!byType) shortcuts.set(state, (byType = new Map()));
  let known = byType.get(type);
  if (known === undefined) {
    const node = (sessionMachine.root.states as Record<string, AnyStateNode>)[state];
    const list = node?.transitions.get(type);
    const t = list?.length === 1 ? list[0] : undefined;
    const simple =
      node !== undefined &&
      node.always === undefined &&
      t !== undefined &&
      t.guard === undefined &&
      (t.target === undefined || t.target.length === 0) &&
      t.actions.length > 0 &&
      t.actions.every((a) => typeof a === 'string' && a in CONTEXT_ACTIONS);
    known = simple ? t.actions.map((a) => CONTEXT_ACTIONS[a as string]!) : null;
    byType.set(type, known);
  }
  return known;
};

/**
 * Whether `type` in `state` is one of the context-only steps above: it
 * leaves the state value alone and hands back CONTEXT_ONLY (refusal-lane.ts
 * relies on it before it steps).
 */
export const contextOnly = (state: string, type: SessionEvent['type']): boolean => shortcutFor(state, type) !== null;

/** One step: the next snapshot and the actions to perform, in wire order (same contract as xstate's `transition`). */
export const stepMachine = (snapshot: SessionSnapshot, event: SessionEvent): [SessionSnapshot, MachineAction[]] => {
  const shortcut = snapshot.status === 'active' && typeof snapshot.value === 'string' ? shortcutFor(snapshot.value, event.type) : null;
  if (shortcut) {
    let context = snapshot.context;
    for (const action of shortcut) {
      const change = action(context, event);
      let differs = false;
      for (const k in change) if (change[k as keyof SessionContext] !== context[k as keyof SessionContext]) differs = true;
      if (differs) context = { ...context, ...change };
    }
    // Nothing changed: xstate would hand back an equal copy; the same object is as good.
    return [context === snapshot.context ? snapshot : { ...snapshot, context }, CONTEXT_ONLY];
  }
  const s = scopeOf();
  collected.length = 0;
  const next = sessionMachine.transition(snapshot, event, s);
  return [next, drain()];
};
