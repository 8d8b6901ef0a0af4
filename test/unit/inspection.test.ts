import { readFileSync } from 'node:fs';
import { createInspector, type StatelyInspectionEvent } from '@statelyai/inspect';
import { describe, expect, it } from 'vitest';
import { FakeHubObject, type FakeSocket } from '../../harness/fake-object';
import { sessionMachine } from '../../machines/session';
import { DEFAULT_CONFIG } from '../../src/config';
import {
  INIT_EVENT,
  INSPECT_FRAME_VERSION,
  INSPECT_SUBPROTOCOL,
  JOIN_EVENT,
  SessionInspection,
  actorFrame,
  eventFrame,
  inspectorCredentials,
  joinFrames,
  machineConfigJson,
  snapshotFrame,
  type InspectionFrame,
} from '../../src/core/inspection';
import { buildRequest } from '../../src/protocol/build';
import type { Requests, RequestType } from '../../src/protocol/messages';
import { PROTOCOL_VERSION } from '../../src/protocol/envelope';

type Frame = Record<string, any>;

/**
 * The fake object with an inspector attached the way the Durable Object
 * attaches one: the hook on whichever core is awake, and `opened` after each
 * HubCore.open. Frames go through JSON like they do on the wire.
 */
class Inspected {
  readonly fake = new FakeHubObject(DEFAULT_CONFIG);
  readonly frames: Frame[] = [];
  readonly inspection = new SessionInspection((f) => this.frames.push(JSON.parse(JSON.stringify(f)) as Frame));

  private core() {
    const hub = this.fake.hub();
    this.inspection.install(hub);
    return hub;
  }

  open(): FakeSocket {
    this.core();
    const socket = this.fake.open();
    this.inspection.opened(this.fake.hub().session(socket.connId), this.fake.clock.now());
    return socket;
  }

  ask<K extends RequestType>(socket: FakeSocket, type: K, payload: Requests[K], metadata: Record<string, unknown> = {}): Frame {
    this.core();
    const msg = buildRequest(type, payload, { from: '@(inspected/1)', timestamp: this.fake.clock.now(), metadata });
    const before = socket.received.length;
    this.fake.send(socket, JSON.stringify(msg));
    const reply = socket.received.slice(before).map((f) => JSON.parse(f) as Frame).find((f) => f.correlationId === msg.id);
    if (!reply) throw new Error(`no reply to ${type}`);
    return reply;
  }

  /** The hub's close frame comes back from the client and the runtime reports the close. */
  completeCloses(): void {
    this.core();
    this.fake.completeCloses();
  }

  /** The (type, machine event, state) walk of the frames, for readable sequence assertions. */
  walk(): string[] {
    return this.frames.map((f) =>
      f.type === '@xstate.actor'
        ? `actor ${f.snapshot.value}`
        : f.type === '@xstate.event'
          ? `event ${f.event.type}`
          : `snapshot ${f.event.type} -> ${f.snapshot.value}/${f.snapshot.status}`,
    );
  }
}

/** connect, register, heartbeat, disconnect, and the close completing: one scripted session. */
const scriptedSession = (t: Inspected, advance = 0): { socket: FakeSocket; replies: string[] } => {
  const socket = t.open();
  const replies: string[] = [];
  const step = () => t.fake.clock.advance(advance);
  step();
  replies.push(t.ask(socket, 'hub:connect', null, { protocolVersion: PROTOCOL_VERSION }).type);
  step();
  replies.push(t.ask(socket, 'hub:register', { actorAddress: '@(inspected/1)', capabilities: [] }).type);
  step();
  replies.push(t.ask(socket, 'hub:heartbeat', { timestamp: t.fake.clock.now() }).type);
  step();
  replies.push(t.ask(socket, 'hub:disconnect', null).type);
  step();
  t.completeCloses();
  return { socket, replies };
};

describe('inspection frames of a scripted session', () => {
  it('announce the actor, then each machine event followed by the snapshot it led to', () => {
    const t = new Inspected();
    const { replies } = scriptedSession(t, 10);
    expect(replies).toEqual(['hub:connected', 'hub:registered', 'hub:heartbeat_ack', 'hub:disconnect']);
    expect(t.walk()).toEqual([
      'actor connecting',
      'snapshot xstate.init -> connecting/active',
      // hub:connect: every frame touches the session, then the connect is accepted
      'event FRAME',
      'snapshot FRAME -> connecting/active',
      'event CONNECT_ACCEPTED',
      'snapshot CONNECT_ACCEPTED -> registered/active',
      // hub:register
      'event FRAME',
      'snapshot FRAME -> registered/active',
      // hub:heartbeat
      'event FRAME',
      'snapshot FRAME -> registered/active',
      'event HEARTBEAT',
      'snapshot HEARTBEAT -> registered/active',
      // hub:disconnect
      'event FRAME',
      'snapshot FRAME -> registered/active',
      'event DISCONNECT_REQUESTED',
      'snapshot DISCONNECT_REQUESTED -> closing/active',
      // the socket's close ends the machine
      'event SOCKET_CLOSED',
      'snapshot SOCKET_CLOSED -> closed/done',
    ]);
  });

  it('name each FRAME by its request type and id, never its payload', () => {
    const t = new Inspected();
    const socket = t.open();
    t.ask(socket, 'hub:connect', null, { protocolVersion: PROTOCOL_VERSION });
    t.ask(socket, 'hub:publish', { topic: 'rooms/secret', type: 'room.message', data: { text: 'a private payload' } });
    t.fake.send(socket, 'not json at all');
    const frames = t.frames.filter((f) => f.type === '@xstate.event' && f.event.type === 'FRAME').map((f) => f.event);
    expect(frames.map((e) => e.request)).toEqual(['hub:connect', 'hub:publish', undefined]);
    for (const e of frames.slice(0, 2)) expect(e.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(Object.keys(frames[1]!).sort()).toEqual(['id', 'now', 'request', 'type']);
    expect(JSON.stringify(t.frames)).not.toContain('a private payload');
  });

  it('clip a client-chosen request type or id to 128 characters', () => {
    const t = new Inspected();
    const socket = t.open();
    t.fake.send(socket, JSON.stringify({ id: 'i'.repeat(500), type: 't'.repeat(500) }));
    const event = t.frames.find((f) => f.type === '@xstate.event' && f.event.type === 'FRAME')!.event;
    expect(event.request).toBe(`${'t'.repeat(128)}…`);
    expect(event.id).toBe(`${'i'.repeat(128)}…`);
  });

  it('use the protocol session id as the one stable actor id, with the Stately frame fields', () => {
    const t = new Inspected();
    const { socket } = scriptedSession(t, 10);
    const connected = t.fake.messages(socket).find((m) => m.type === 'hub:connected')!;
    const sessionId = connected.payload.sessionId as string;
    expect(typeof sessionId).toBe('string');
    for (const f of t.frames) {
      expect(f.sessionId).toBe(sessionId);
      expect(f.rootId).toBe(sessionId);
      expect(f._version).toBe(INSPECT_FRAME_VERSION);
      expect(f.createdAt).toMatch(/^\d+$/);
      if (f.type !== '@xstate.actor') expect(f.event.type).toBeTypeOf('string');
    }
    const actor = t.frames[0]!;
    expect(actor).toMatchObject({ type: '@xstate.actor', name: 'session', id: null });
    expect(JSON.parse(actor.definition as string)).toMatchObject({ id: 'session', initial: 'connecting' });
    // Event ids are distinct so the inspector can tell repeated FRAME events apart.
    const ids = t.frames.filter((f) => f.type === '@xstate.event').map((f) => f.id as string);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('carry the machine event and the context the hub computed, in order of time', () => {
    const t = new Inspected();
    scriptedSession(t, 10);
    const accepted = t.frames.find((f) => f.type === '@xstate.snapshot' && f.event.type === 'CONNECT_ACCEPTED')!;
    expect(accepted.event).toMatchObject({ identity: '@(inspected/1)', capabilities: [] });
    expect(accepted.snapshot.context).toMatchObject({ identity: '@(inspected/1)', connectDeadline: null });
    const heartbeat = t.frames.find((f) => f.type === '@xstate.event' && f.event.type === 'HEARTBEAT')!;
    expect(heartbeat.event.now).toBe(Number(heartbeat.createdAt));
    const closed = t.frames.at(-1)!;
    expect(closed.snapshot.context).toMatchObject({ closeCode: 1000, closeReason: 'client_disconnect' });
    const times = t.frames.map((f) => Number(f.createdAt));
    expect([...times].sort((a, b) => a - b)).toEqual(times);
    expect(times.at(-1)! - times[0]!).toBe(50);
  });

  it('keeps each session apart: two sessions, two actors, each event on its own actor', () => {
    const t = new Inspected();
    const a = t.open();
    const b = t.open();
    t.ask(a, 'hub:connect', null, { protocolVersion: PROTOCOL_VERSION });
    t.ask(b, 'hub:heartbeat', { timestamp: 1 }); // not connected yet: refused, but still a FRAME on b
    const actors = t.frames.filter((f) => f.type === '@xstate.actor').map((f) => f.sessionId as string);
    expect(actors).toHaveLength(2);
    expect(new Set(actors).size).toBe(2);
    const [idA, idB] = actors as [string, string];
    const eventsOf = (id: string) => t.frames.filter((f) => f.type === '@xstate.event' && f.sessionId === id).map((f) => f.event.type);
    expect(eventsOf(idA)).toEqual(['FRAME', 'CONNECT_ACCEPTED']);
    expect(eventsOf(idB)).toEqual(['FRAME']);
  });
});

describe('joining inspectors and hibernation', () => {
  it('a joining inspector gets one actor and one snapshot per existing session, with the same ids after a wake', () => {
    const t = new Inspected();
    const a = t.open();
    t.ask(a, 'hub:connect', null, { protocolVersion: PROTOCOL_VERSION });
    t.open(); // still connecting
    const live = [...t.fake.hub().allSessions()];
    const before = joinFrames(live, 5);
    expect(before.map((f) => f.type)).toEqual(['@xstate.actor', '@xstate.snapshot', '@xstate.actor', '@xstate.snapshot']);
    expect(before.filter((f) => f.type === '@xstate.snapshot').map((f) => (f as { event: { type: string } }).event)).toEqual([
      JOIN_EVENT,
      JOIN_EVENT,
    ]);

    t.fake.hibernate();
    const restored = [...t.fake.hub().allSessions()];
    const after = joinFrames(restored, 5);
    // Built from the attachments alone, the restored sessions look exactly as before.
    expect(JSON.parse(JSON.stringify(after))).toEqual(JSON.parse(JSON.stringify(before)));
    expect(after.map((f) => f.type === '@xstate.actor' && f.snapshot.value)).toEqual(['registered', false, 'connecting', false]);
  });

  it('steps after a wake continue on the same actor id', () => {
    const t = new Inspected();
    const socket = t.open();
    t.ask(socket, 'hub:connect', null, { protocolVersion: PROTOCOL_VERSION });
    const sessionId = t.frames[0]!.sessionId as string;
    t.fake.hibernate();
    t.frames.length = 0;
    t.ask(socket, 'hub:heartbeat', { timestamp: 1 });
    expect(t.walk()).toEqual([
      'event FRAME',
      'snapshot FRAME -> registered/active',
      'event HEARTBEAT',
      'snapshot HEARTBEAT -> registered/active',
    ]);
    for (const f of t.frames) expect(f.sessionId).toBe(sessionId);
  });
});

describe('inspection never changes the hub', () => {
  it('a sink that throws on every frame leaves the wire transcript identical to a run without inspection', () => {
    const faults: unknown[] = [];
    const plain = new FakeHubObject(DEFAULT_CONFIG);
    const broken = new FakeHubObject(DEFAULT_CONFIG);
    const inspection = new SessionInspection(
      () => {
        throw new Error('inspector socket exploded');
      },
      (err) => faults.push(err),
    );
    let steps = 0;
    const run = (fake: FakeHubObject, inspect: boolean): string[] => {
      const hub = () => {
        const h = fake.hub();
        if (inspect) inspection.install(h);
        else h.onTransition = () => steps++;
        return h;
      };
      hub();
      const s = fake.open();
      if (inspect) inspection.opened(fake.hub().session(s.connId), fake.clock.now());
      for (const [type, payload] of [
        ['hub:connect', null],
        ['hub:register', { actorAddress: '@(x/1)', capabilities: [] }],
        ['hub:heartbeat', { timestamp: 1 }],
        ['hub:disconnect', null],
      ] as const) {
        hub();
        const msg = buildRequest(type as RequestType, payload as never, {
          id: `${type}-1`,
          from: '@(x/1)',
          timestamp: fake.clock.now(),
          metadata: type === 'hub:connect' ? { protocolVersion: PROTOCOL_VERSION } : {},
        });
        fake.send(s, JSON.stringify(msg));
        fake.clock.advance(5);
      }
      hub();
      fake.completeCloses();
      return s.received;
    };
    const expected = run(plain, false);
    const got = run(broken, true);
    expect(got).toEqual(expected);
    expect(expected.map((f) => (JSON.parse(f) as Frame).type)).toEqual([
      'hub:connected',
      'hub:registered',
      'hub:heartbeat_ack',
      'hub:disconnect',
    ]);
    // One fault for the opening and one per machine step: each was reported, none escaped.
    expect(steps).toBeGreaterThan(0);
    expect(faults).toHaveLength(1 + steps);
    expect([...broken.hub().allSessions()]).toHaveLength(0);
  });

  it('a throwing fault reporter is swallowed too', () => {
    const inspection = new SessionInspection(
      () => {
        throw new Error('sink');
      },
      () => {
        throw new Error('reporter');
      },
    );
    const fake = new FakeHubObject(DEFAULT_CONFIG);
    inspection.install(fake.hub());
    const s = fake.open();
    expect(() => inspection.opened(fake.hub().session(s.connId), 0)).not.toThrow();
    const msg = buildRequest('hub:connect', null, { from: '@(y/1)', metadata: { protocolVersion: PROTOCOL_VERSION } });
    fake.send(s, JSON.stringify(msg));
    expect(fake.messages(s).map((m) => m.type)).toEqual(['hub:connected']);
  });

  it('install never takes over a hook someone else holds, and uninstall only removes its own', () => {
    const fake = new FakeHubObject(DEFAULT_CONFIG);
    const hub = fake.hub();
    expect(hub.onTransition).toBeUndefined();
    const seen: string[] = [];
    const other = (step: { event: { type: string } }) => seen.push(step.event.type);
    hub.onTransition = other;
    const inspection = new SessionInspection(() => {});
    expect(inspection.install(hub)).toBe(false);
    inspection.uninstall(hub);
    expect(hub.onTransition).toBe(other);
    hub.onTransition = undefined;
    expect(inspection.install(hub)).toBe(true);
    expect(hub.onTransition).toBe(inspection.step);
    inspection.uninstall(hub);
    expect(hub.onTransition).toBeUndefined();
  });
});

describe('frame shape matches @statelyai/inspect', () => {
  const collect = () => {
    const sent: StatelyInspectionEvent[] = [];
    return { sent, inspector: createInspector({ send: (e) => sent.push(e) }) };
  };
  const sample = () => {
    const fake = new FakeHubObject(DEFAULT_CONFIG);
    const s = fake.open();
    return fake.hub().session(s.connId)!.snapshot;
  };
  const keys = (o: object) => Object.keys(o).sort();

  it('declares the version of the installed package', () => {
    const pkg = JSON.parse(
      readFileSync(new URL('../../node_modules/@statelyai/inspect/package.json', import.meta.url), 'utf8'),
    ) as { version: string };
    expect(INSPECT_FRAME_VERSION).toBe(pkg.version);
  });

  it('has the same fields as the frames the package itself builds', () => {
    const snap = sample();
    const id = snap.context.sessionId;
    const { sent, inspector } = collect();
    inspector.actor(id, { status: 'active', value: snap.value, context: snap.context }, { rootId: id });
    inspector.event(id, { type: 'FRAME' });
    inspector.snapshot(id, { status: 'active', value: snap.value, context: snap.context }, { event: { type: 'FRAME' } });
    const [theirActor, theirEvent, theirSnapshot] = sent as [object, object, object];
    const ours: InspectionFrame[] = [actorFrame(snap, 1), eventFrame(id, { type: 'FRAME' }, 1, 'e1'), snapshotFrame(snap, INIT_EVENT, 1)];
    expect(keys(ours[0]!)).toEqual(keys(theirActor));
    expect(keys(ours[1]!)).toEqual(keys(theirEvent));
    expect(keys(ours[2]!)).toEqual(keys(theirSnapshot));
    for (const [i, theirs] of [theirActor, theirEvent, theirSnapshot].entries()) {
      expect(ours[i]!.type).toBe((theirs as { type: string }).type);
    }
  });

  it('sends the machine config the way the package serialises a live actor', () => {
    const definition = JSON.parse(actorFrame(sample(), 1).definition) as Record<string, any>;
    expect(Object.keys(definition.states as object)).toEqual(Object.keys(sessionMachine.config.states!));
    // The context factory is a function: it goes out as a named implementation, never as code.
    expect(definition.context).toEqual({ type: 'context' });
    expect(machineConfigJson(sessionMachine)).toBe(actorFrame(sample(), 1).definition);
  });
});

describe('inspector credentials', () => {
  const jwt = 'aaa.bbb.ccc';
  const url = (q = '') => new URL(`http://hub.test/inspect${q}`);

  it('takes the token from the query parameter', () => {
    expect(inspectorCredentials(url(`?token=${jwt}`), null)).toEqual({ token: jwt, protocol: null });
  });

  it('takes the token from a subprotocol and echoes the inspect subprotocol when offered', () => {
    expect(inspectorCredentials(url(), `${INSPECT_SUBPROTOCOL}, ${jwt}`)).toEqual({ token: jwt, protocol: INSPECT_SUBPROTOCOL });
  });

  it('echoes the token when it is the only subprotocol offered', () => {
    expect(inspectorCredentials(url(), jwt)).toEqual({ token: jwt, protocol: jwt });
  });

  it('has no token when neither carries one', () => {
    expect(inspectorCredentials(url('?token='), 'chat')).toEqual({ token: null, protocol: 'chat' });
  });
});
