import type { AnyStateMachine } from 'xstate';
import { sessionMachine } from '../../machines/session';
import type { HubCore, MachineStep } from './hub';
import type { Session, SessionSnapshot } from './session';

/**
 * Live inspection of session machines in the Stately inspector.
 *
 * The frames built here have the JSON shape that @statelyai/inspect sends
 * over its WebSocket adapter (`@xstate.actor`, `@xstate.event`,
 * `@xstate.snapshot`), so a relay can hand them to that package's inspector
 * server unchanged. Each session is one root actor whose inspector id is its
 * protocol `sessionId`: it is kept in the socket attachment, so the same
 * session keeps the same actor across hibernation.
 *
 * Nothing here touches the runtime: the Durable Object shell feeds steps in
 * (through HubCore.onTransition) and forwards the frames that come out.
 */

/** The @statelyai/inspect release whose frame shape this follows (its `_version` field). */
export const INSPECT_FRAME_VERSION = '0.7.2';

/** Tag of inspector sockets in the Durable Object; session sockets are tagged with their connId. */
export const INSPECTOR_TAG = 'inspector';

/** Subprotocol an inspector may offer next to its token; echoed so browsers accept the upgrade. */
export const INSPECT_SUBPROTOCOL = 'signal-hub.inspect';

/** Event of the snapshot sent when a session is created. */
export const INIT_EVENT = { type: 'xstate.init' } as const;
/** Event of the snapshot an inspector gets for a session that existed before it joined. */
export const JOIN_EVENT = { type: 'hub.inspector_joined' } as const;

export interface InspectedSnapshot {
  status: 'active' | 'done' | 'error' | 'stopped';
  value: unknown;
  context: Record<string, unknown>;
  children: Record<string, never>;
  historyValue: Record<string, never>;
  tags: string[];
  output?: unknown;
}

interface FrameBase {
  sessionId: string;
  rootId: string;
  createdAt: string;
  _version: string;
}

export interface ActorFrame extends FrameBase {
  type: '@xstate.actor';
  name: string;
  id: null;
  parentId: undefined;
  definition: string;
  snapshot: InspectedSnapshot;
}

export interface EventFrame extends FrameBase {
  type: '@xstate.event';
  id: string;
  sourceId: undefined;
  event: { type: string; [key: string]: unknown };
}

export interface SnapshotFrame extends FrameBase {
  type: '@xstate.snapshot';
  id: null;
  event: { type: string; [key: string]: unknown };
  snapshot: InspectedSnapshot;
}

export type InspectionFrame = ActorFrame | EventFrame | SnapshotFrame;

/**
 * A machine's config as JSON. Functions (the context factory, computed action
 * params) cannot be serialised; like @statelyai/inspect they become
 * `{ type: <name> }`, which the inspector and Studio read as a named
 * implementation.
 */
export const machineConfigJson = (machine: AnyStateMachine, space?: number): string =>
  JSON.stringify(
    machine.config,
    (_key, value: unknown) => (typeof value === 'function' ? { type: (value as { name?: string }).name || 'anonymous' } : value),
    space,
  );

let sessionDefinition: string | undefined;
/** Built once per isolate and only when someone inspects. */
const definitionOfSessions = (): string => (sessionDefinition ??= machineConfigJson(sessionMachine));

export const inspectedSnapshot = (snapshot: SessionSnapshot): InspectedSnapshot => {
  const out: InspectedSnapshot = {
    status: snapshot.status,
    value: snapshot.value,
    context: { ...snapshot.context },
    children: {},
    historyValue: {},
    tags: [...snapshot.tags],
  };
  if (snapshot.status === 'done') out.output = snapshot.output;
  return out;
};

const base = (sessionId: string, now: number): FrameBase => ({
  sessionId,
  rootId: sessionId,
  createdAt: String(now),
  _version: INSPECT_FRAME_VERSION,
});

export const actorFrame = (snapshot: SessionSnapshot, now: number): ActorFrame => ({
  type: '@xstate.actor',
  ...base(snapshot.context.sessionId, now),
  name: sessionMachine.id,
  id: null,
  parentId: undefined,
  definition: definitionOfSessions(),
  snapshot: inspectedSnapshot(snapshot),
});

export const snapshotFrame = (snapshot: SessionSnapshot, event: { type: string }, now: number): SnapshotFrame => ({
  type: '@xstate.snapshot',
  ...base(snapshot.context.sessionId, now),
  id: null,
  event: { ...event },
  snapshot: inspectedSnapshot(snapshot),
});

export const eventFrame = (sessionId: string, event: { type: string }, now: number, id: string): EventFrame => ({
  type: '@xstate.event',
  ...base(sessionId, now),
  id,
  sourceId: undefined,
  event: { ...event },
});

/** The synthetic frames a joining inspector gets: one actor and one snapshot per existing session. */
export const joinFrames = (sessions: Iterable<Session>, now: number): InspectionFrame[] => {
  const frames: InspectionFrame[] = [];
  for (const session of sessions) {
    frames.push(actorFrame(session.snapshot, now), snapshotFrame(session.snapshot, JOIN_EVENT, now));
  }
  return frames;
};

export type FrameSink = (frame: InspectionFrame) => void;
export type InspectionFault = (err: unknown) => void;

/**
 * Turns session lifecycle into inspection frames for one sink. Every entry
 * point swallows its own failures (reporting them to `onFault`): inspection
 * is an observer and must never change what the hub does.
 */
export class SessionInspection {
  private seq = 0;

  constructor(
    private readonly sink: FrameSink,
    private readonly onFault: InspectionFault = () => {},
  ) {}

  /** For HubCore.onTransition: the machine event, then the snapshot it led to. */
  readonly step = (step: MachineStep): void => {
    try {
      const sessionId = step.after.context.sessionId;
      const now = step.event.now;
      this.sink(eventFrame(sessionId, step.event, now, `${sessionId}:${now}:${++this.seq}`));
      this.sink(snapshotFrame(step.after, step.event, now));
    } catch (err) {
      this.fault(err);
    }
  };

  /** A session was just created (HubCore.open): announce the actor and its initial snapshot. */
  opened(session: Session | undefined, now: number): void {
    if (!session) return;
    try {
      this.sink(actorFrame(session.snapshot, now));
      this.sink(snapshotFrame(session.snapshot, INIT_EVENT, now));
    } catch (err) {
      this.fault(err);
    }
  }

  /** Hooks into a core; returns false (and leaves the core alone) if another observer already holds the hook. */
  install(core: HubCore): boolean {
    if (core.onTransition === this.step) return true;
    if (core.onTransition !== undefined) return false;
    core.onTransition = this.step;
    return true;
  }

  uninstall(core: HubCore): void {
    if (core.onTransition === this.step) core.onTransition = undefined;
  }

  private fault(err: unknown): void {
    try {
      this.onFault(err);
    } catch {
      // A failing fault reporter is not allowed to escape either.
    }
  }
}

const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

/**
 * Where an inspector's token is: the `token` query parameter, or one of the
 * offered WebSocket subprotocols (browsers cannot set headers on an upgrade).
 * `protocol` is what the server must echo in Sec-WebSocket-Protocol when the
 * client offered any, since a client refuses an upgrade that picks none.
 */
export const inspectorCredentials = (
  url: URL,
  offeredHeader: string | null,
): { token: string | null; protocol: string | null } => {
  const offered = (offeredHeader ?? '')
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p.length > 0);
  const inProtocols = offered.find((p) => JWT_SHAPE.test(p)) ?? null;
  const query = url.searchParams.get('token');
  const token = query !== null && query !== '' ? query : inProtocols;
  let protocol: string | null = null;
  if (offered.includes(INSPECT_SUBPROTOCOL)) protocol = INSPECT_SUBPROTOCOL;
  else if (offered.length > 0) protocol = inProtocols ?? offered[0]!;
  return { token, protocol };
};
