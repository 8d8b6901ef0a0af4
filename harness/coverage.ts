import type { AnyStateNode, AnyTransitionDefinition } from 'xstate';
import { toDirectedGraph, type DirectedGraphNode } from 'xstate/graph';
import { sessionMachine } from '../machines/session';
import type { ObservedTransition } from './runner';

/**
 * Transition coverage of the session machine. A transition is identified by
 * its source state, its event and, for guarded alternatives, its position in
 * that event's list ("rate-limited:TICK:2" is the third TICK branch of
 * rate-limited). The list comes from xstate's graph of the machine; which one
 * a hub step took is decided by asking the machine itself which transition
 * the event selects from the snapshot before the step.
 */

export interface MachineTransition {
  key: string;
  state: string;
  event: string;
  branch: number;
  target: string | null;
  guard: string | null;
}

const keyOf = (t: AnyTransitionDefinition): string => {
  const source = t.source as AnyStateNode;
  const list = source.transitions.get(t.eventType) ?? [];
  return `${source.key}:${t.eventType}:${list.indexOf(t)}`;
};

const guardName = (t: AnyTransitionDefinition): string | null => {
  const g = t.guard as unknown;
  if (g === undefined || g === null) return null;
  if (typeof g === 'string') return g;
  if (typeof g === 'object' && g !== null && 'type' in g) return String((g as { type: unknown }).type);
  return 'inline';
};

/** Every transition of the session machine, from its directed graph. */
export const machineTransitions = (): MachineTransition[] => {
  const found = new Map<string, MachineTransition>();
  const walk = (graph: DirectedGraphNode): void => {
    for (const edge of graph.edges) {
      const t = edge.transition as AnyTransitionDefinition;
      const key = keyOf(t);
      if (found.has(key)) continue;
      const [state, event, branch] = key.split(':') as [string, string, string];
      found.set(key, {
        key,
        state,
        event,
        branch: Number(branch),
        target: t.target?.[0]?.key ?? null,
        guard: guardName(t),
      });
    }
    for (const child of graph.children) walk(child);
  };
  walk(toDirectedGraph(sessionMachine));
  return [...found.values()].sort((a, b) => (a.key < b.key ? -1 : 1));
};

/** The transition a machine step took, or null when the event changed nothing (no enabled transition). */
export const transitionTaken = (t: Pick<ObservedTransition, 'before' | 'event'>): string | null => {
  const enabled = sessionMachine.getTransitionData(t.before, t.event) as AnyTransitionDefinition[];
  const first = enabled[0];
  return first ? keyOf(first) : null;
};

/** Counts how often each transition was taken. */
export class CoverageRecorder {
  readonly taken = new Map<string, number>();
  steps = 0;

  readonly record = (t: ObservedTransition): void => {
    this.steps++;
    const key = transitionTaken(t);
    if (key) this.taken.set(key, (this.taken.get(key) ?? 0) + 1);
  };
}
