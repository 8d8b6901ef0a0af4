import fc from 'fast-check';
import { transition } from 'xstate';
import { describe, expect, it } from 'vitest';
import { commandsArb, runScenario, setupArb } from '../../harness/fuzz';
import { FULL_PROFILE } from '../../harness/model';
import { savedTraces } from '../../harness/regression';
import { runTrace, type ObservedTransition } from '../../harness/runner';
import { parseTrace } from '../../harness/trace';
import { sessionMachine } from '../../machines/session';
import { stepMachine, type MachineAction, type SessionSnapshot } from '../../src/core/machine-step';

/**
 * The hub steps its session machines with src/core/machine-step.ts: one
 * reused inert scope instead of an actor per step, and `touch`-only
 * transitions applied without xstate. Both must be indistinguishable from
 * xstate's own pure `transition()`. Every step the fuzz corpus makes (the
 * CI generator and budget of the fuzz test, plus every saved trace) is
 * replayed through both, and the next state, context, status and the
 * actions handed back (type and params, in order) must agree.
 */

const params = { seed: 4_2026, numRuns: 200 };

const shape = (snapshot: SessionSnapshot) => ({ value: snapshot.value, status: snapshot.status, context: snapshot.context });
const actionsOf = (actions: MachineAction[]) => actions.map((a) => ({ type: a.type, params: a.params }));

describe('session machine steps', () => {
  it('match xstate transition() on every step of the fuzz corpus', async () => {
    const mismatches: string[] = [];
    let steps = 0;
    let fast = 0;
    const check = (t: ObservedTransition): void => {
      steps++;
      const [mine, myActions] = stepMachine(t.before, t.event);
      const [theirs, theirActions] = transition(sessionMachine, t.before, t.event);
      // The hub recorded what stepMachine gave it; the replay must agree with that too.
      if (JSON.stringify(shape(t.after)) !== JSON.stringify(shape(mine))) mismatches.push(`replay differs at ${t.event.type}`);
      const a = JSON.stringify({ next: shape(mine), actions: actionsOf(myActions) });
      const b = JSON.stringify({ next: shape(theirs), actions: actionsOf(theirActions as MachineAction[]) });
      if (a !== b && mismatches.length < 5) mismatches.push(`${String(t.before.value)} + ${JSON.stringify(t.event)}:\n  mine   ${a}\n  xstate ${b}`);
      if (myActions.length === 0 && (t.event.type === 'FRAME' || t.event.type === 'HEARTBEAT')) fast++;
    };
    const samples = fc.sample(fc.tuple(setupArb(FULL_PROFILE), commandsArb(80)), { seed: params.seed, numRuns: params.numRuns });
    for (const [setup, cmds] of samples) await runScenario(setup, cmds, { onTransition: check, equivalence: false });
    for (const { trace } of savedTraces()) await runTrace(parseTrace(trace), { onTransition: check });
    expect(mismatches).toEqual([]);
    // The corpus must actually exercise the shortcut, or this test proves nothing about it.
    expect(fast).toBeGreaterThan(100);
    expect(steps).toBeGreaterThan(fast);
  });

  it('touch-only steps keep the snapshot a usable xstate snapshot', () => {
    const base = sessionMachine.resolveState({
      value: 'registered',
      context: {
        sessionId: 's', identity: '@(a)', capabilities: [], openedAt: 0, lastSeen: 10, connectDeadline: null,
        connectTimeoutMs: 1000, heartbeatTimeoutMs: 3000, rateLimitedUntil: null, resumeTo: 'registered',
        closeDeadline: null, closeCode: null, closeReason: null, resumeGraceMs: 0, graceUntil: null,
      },
    });
    const [later] = stepMachine(base, { type: 'FRAME', now: 20 });
    expect(later.context.lastSeen).toBe(20);
    expect(later.matches('registered')).toBe(true);
    // An older time changes nothing, exactly like the machine's touch.
    const [same, none] = stepMachine(later, { type: 'HEARTBEAT', now: 5 });
    expect(same.context.lastSeen).toBe(20);
    expect(none).toEqual([]);
    // A real transition from a shortcut snapshot still goes through xstate correctly.
    const [paused] = stepMachine(later, { type: 'PAUSE', now: 30 });
    expect(paused.value).toBe('paused');
    expect(paused.context.lastSeen).toBe(30);
  });
});
