import { describe, expect, it } from 'vitest';
import { CLOSE_CODES } from '../../machines/session';
import { FakeHubObject, configWith, type FakeSocket } from '../../harness/fake-object';
import { buildRequest } from '../../src/protocol/build';
import { HUB_ADDRESS, PROTOCOL_VERSION, type Envelope } from '../../src/protocol/envelope';
import type { ConnectClaim, HubConnection, RuntimeHooks } from '../../src/runtime/hooks';
import { INSPECTOR_TAG } from '../../src/core/inspection';
import { InspectorPlugin } from '../../src/runtime/inspector';
import { memorySocket } from '../../src/runtime/memory';

/**
 * The runtime adapter's hooks and plugins, driven through the fake object
 * (the same adapter as the Durable Object, over in-memory sockets), so each
 * rule is checked without workerd: test/workerd-mount checks them there.
 */

type Msg = Record<string, any>;
const messages = (fake: FakeHubObject, s: FakeSocket): Msg[] => fake.messages(s);

const connect = async (fake: FakeHubObject, identity: string): Promise<{ socket: FakeSocket; reply: Msg }> => {
  const socket = fake.open();
  const req = buildRequest('hub:connect', null, { from: identity, metadata: { protocolVersion: PROTOCOL_VERSION } });
  await fake.send(socket, JSON.stringify(req));
  return { socket, reply: messages(fake, socket).find((m) => m.correlationId === req.id)! };
};

const appFrame = (from: string, type: string, payload: unknown, pattern: 'ask' | 'tell' = 'ask') => ({
  ...buildRequest('hub:heartbeat', null, { from, pattern }),
  to: '@(app)',
  type,
  payload,
});

describe('onMessage hook', () => {
  it('without it, an application type is unknown_type, as it always was', async () => {
    const fake = new FakeHubObject();
    const { socket } = await connect(fake, '@(plain)');
    const frame = appFrame('@(plain)', 'app:echo', 1);
    await fake.send(socket, JSON.stringify(frame));
    expect(messages(fake, socket).find((m) => m.correlationId === frame.id)?.payload.code).toBe('unknown_type');
  });

  it('with it, the hook gets the envelope and the connection, replies, and the hub itself sends nothing', async () => {
    const seen: { conn: HubConnection; message: Envelope }[] = [];
    const hooks: RuntimeHooks = {
      onMessage(conn, message) {
        seen.push({ conn, message });
        if (message.type === 'app:echo') conn.reply(message, 'app:echoed', message.payload);
      },
    };
    const fake = new FakeHubObject(configWith({}), { hooks });
    const { socket } = await connect(fake, '@(user)');
    const before = socket.received.length;
    const echo = appFrame('@(user)', 'app:echo', { n: 1 });
    await fake.send(socket, JSON.stringify(echo));
    await fake.send(socket, JSON.stringify(appFrame('@(user)', 'app:silent', null, 'tell')));
    expect(seen.map((s) => [s.conn.id, s.conn.identity, s.message.type])).toEqual([
      [socket.connId, '@(user)', 'app:echo'],
      [socket.connId, '@(user)', 'app:silent'],
    ]);
    const fresh = socket.received.slice(before).map((f) => JSON.parse(f) as Msg);
    expect(fresh).toHaveLength(1);
    expect(fresh[0]).toMatchObject({
      type: 'app:echoed',
      from: '@(app)',
      to: '@(user)',
      correlationId: echo.id,
      payload: { n: 1 },
      metadata: { forwarded: true, via: HUB_ADDRESS, originalMessageId: echo.id },
    });
  });

  it('is not asked before hub:connect, nor for unknown hub: types', async () => {
    let calls = 0;
    const fake = new FakeHubObject(configWith({}), { hooks: { onMessage: () => void calls++ } });
    const early = fake.open();
    const before = appFrame('@(early)', 'app:echo', 1);
    await fake.send(early, JSON.stringify(before));
    expect(messages(fake, early).find((m) => m.correlationId === before.id)?.payload.code).toBe('not_connected');
    const { socket } = await connect(fake, '@(later)');
    const bogus = { ...appFrame('@(later)', 'app:x', 1), type: 'hub:nonsense' };
    await fake.send(socket, JSON.stringify(bogus));
    expect(messages(fake, socket).find((m) => m.correlationId === bogus.id)?.payload.code).toBe('unknown_type');
    expect(calls).toBe(0);
  });

  it('a hook that throws is logged, and the session goes on', async () => {
    const fake = new FakeHubObject(configWith({}), {
      hooks: {
        onMessage() {
          throw new Error('app bug');
        },
      },
    });
    const { socket } = await connect(fake, '@(victim)');
    await fake.send(socket, JSON.stringify(appFrame('@(victim)', 'app:boom', null)));
    expect(fake.logs.some((l) => l.event === 'hook.failed' && l.hook === 'onMessage' && String(l.error).includes('app bug'))).toBe(true);
    const hb = buildRequest('hub:heartbeat', null, { from: '@(victim)' });
    await fake.send(socket, JSON.stringify(hb));
    expect(messages(fake, socket).find((m) => m.correlationId === hb.id)?.type).toBe('hub:heartbeat_ack');
  });
});

describe('authorize hook', () => {
  it('refuses a named identity with unauthorized and a 4401 close; others connect', async () => {
    const claims: ConnectClaim[] = [];
    const fake = new FakeHubObject(configWith({}), {
      hooks: {
        async authorize(claim) {
          claims.push(claim);
          return claim.identity === '@(banned)' ? { reason: 'banned', message: 'Not you.' } : undefined;
        },
      },
    });
    const refused = await connect(fake, '@(banned)');
    expect(refused.reply).toMatchObject({
      type: 'hub:unauthorized',
      payload: { code: 'unauthorized', action: 'connect', reason: 'banned', message: 'Not you.', retryable: false },
    });
    expect(refused.socket.closed).toMatchObject({ code: CLOSE_CODES.unauthorized, by: 'hub' });
    const admitted = await connect(fake, '@(fine)');
    expect(admitted.reply.type).toBe('hub:connected');
    expect(claims.map((c) => c.identity)).toEqual(['@(banned)', '@(fine)']);
  });

  it('fails closed: a hook that throws refuses with authorize_failed', async () => {
    const fake = new FakeHubObject(configWith({}), {
      hooks: {
        authorize() {
          throw new Error('directory down');
        },
      },
    });
    const { reply } = await connect(fake, '@(anyone)');
    expect(reply.payload).toMatchObject({ code: 'unauthorized', reason: 'authorize_failed' });
    expect(fake.logs.some((l) => l.event === 'hook.failed' && l.hook === 'authorize')).toBe(true);
  });
});

describe('onClose hook', () => {
  it('sees the identity the session had and the close code, after a hibernation too', async () => {
    const closes: [string | null, number][] = [];
    const fake = new FakeHubObject(configWith({}), { hooks: { onClose: (conn, info) => void closes.push([conn.identity, info.code]) } });
    const { socket } = await connect(fake, '@(leaver)');
    fake.hibernate();
    fake.clientClose(socket, 4000);
    expect(closes).toEqual([['@(leaver)', 4000]]);
  });
});

describe('inspection plugin over the in-memory runtime', () => {
  it('an inspector socket gets the sessions, then live steps, and is never restored as a session', async () => {
    const plugin = new InspectorPlugin<ReturnType<typeof memorySocket>>(() => {});
    const fake = new FakeHubObject(configWith({}), { plugins: [plugin] });
    const { socket } = await connect(fake, '@(watched)');
    const inspector = memorySocket('watcher');
    plugin.join(inspector, fake.runtime);
    expect(inspector.tags).toEqual([INSPECTOR_TAG]);
    const joined = inspector.received.map((f) => JSON.parse(f) as Msg);
    expect(joined.map((f) => f.type)).toEqual(['@xstate.actor', '@xstate.snapshot']);
    fake.hibernate();
    await fake.send(socket, JSON.stringify(buildRequest('hub:heartbeat', null, { from: '@(watched)' })));
    const live = inspector.received.slice(joined.length).map((f) => JSON.parse(f) as Msg);
    expect(live.map((f) => f.type)).toContain('@xstate.event');
    expect([...fake.hub().allSessions()].map((s) => s.connId)).toEqual([socket.connId]);
  });
});
