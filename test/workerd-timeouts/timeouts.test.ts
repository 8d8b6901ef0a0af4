import { describe, expect, it } from 'vitest';
import {
  WorkerdClient,
  MODES,
  eventually,
  freshHub,
  hibernate,
  hibernateIfAwake,
  sleep,
  storedActorCount,
  type Frame,
} from '../workerd/hub-client';

// Values from the workerd-timeouts project in vitest.config.ts.
const CONNECT_TIMEOUT_MS = 1_500;
const HEARTBEAT_INTERVAL_MS = 1_000;
const HEARTBEAT_TIMEOUT_MS = 2_500;
const RESUME_GRACE_MS = 1_000;
/** Room for alarm scheduling on a loaded two-core machine. */
const SLACK_MS = 2_500;

const closeAfterNotice = (client: WorkerdClient, reason: string) => {
  const noticeAt = client.events.findIndex((e) => e.kind === 'frame' && e.frame.type === 'hub:disconnect');
  const closeAt = client.events.findIndex((e) => e.kind === 'close');
  expect(noticeAt).toBeGreaterThanOrEqual(0);
  expect(closeAt).toBeGreaterThan(noticeAt);
  const notice = (client.events[noticeAt] as { frame: Frame }).frame;
  expect(notice.payload).toMatchObject({ reason });
  expect(typeof notice.payload.message).toBe('string');
  return notice;
};

// Every test waits on real time in its own hub, so they run side by side.
describe.concurrent.each(MODES)('timeouts, $mode (contract §4)', ({ between }) => {
  it('closes a socket that never connects with 4408 after CONNECT_TIMEOUT_MS', async () => {
    const hub = freshHub('connect-timeout');
    // Taken before the upgrade, so it is no later than the hub's own start of the deadline.
    const openedAt = Date.now();
    const client = await WorkerdClient.open(hub, '@(to/never)');
    // The object must be in memory to be evicted: a not_connected reply proves it is.
    const probe = client.request('hub:heartbeat', null);
    expect((await client.reply(probe)).payload.code).toBe('not_connected');
    await between(hub);
    const closed = await client.waitClosed(CONNECT_TIMEOUT_MS + SLACK_MS);
    expect(closed.code).toBe(4408);
    expect(Date.now() - openedAt).toBeGreaterThanOrEqual(CONNECT_TIMEOUT_MS - 50);
    closeAfterNotice(client, 'connect_timeout');
  });

  it('sends hub:disconnect heartbeat_timeout then closes 4408 a silent session, releasing its registrations', async () => {
    const hub = freshHub('hb-timeout');
    const client = await WorkerdClient.connected(hub, '@(to/silent)');
    const reg = await client.ask('hub:register', { actorAddress: '@(to/silent)', capabilities: [], ttlSeconds: 60 });
    const lastSeen = reg.timestamp as number;
    await sleep(HEARTBEAT_TIMEOUT_MS / 2);
    // Evicting mid-way must not lose or restart the deadline.
    await between(hub);
    const notice = await client.next((f) => f.type === 'hub:disconnect', HEARTBEAT_TIMEOUT_MS + SLACK_MS);
    expect(notice.payload.reason).toBe('heartbeat_timeout');
    expect(notice.timestamp - lastSeen).toBeGreaterThanOrEqual(HEARTBEAT_TIMEOUT_MS);
    // A deadline restarted by the wake would only expire a whole timeout later.
    expect(notice.timestamp - lastSeen).toBeLessThan(2 * HEARTBEAT_TIMEOUT_MS);
    expect((await client.waitClosed()).code).toBe(4408);
    closeAfterNotice(client, 'heartbeat_timeout');
    // A timeout counts as a lost connection (session resume): the session is
    // suspended and keeps its registration for RESUME_GRACE_MS, then releases it.
    expect(await storedActorCount(hub)).toBe(1);
    await eventually(async () => (await storedActorCount(hub)) === 0, RESUME_GRACE_MS + SLACK_MS, 'release after the grace period');
  });

  it('keeps a session alive past the timeout while it sends heartbeats and other frames', async () => {
    const hub = freshHub('hb-alive');
    const client = await WorkerdClient.connected(hub, '@(to/busy)');
    for (let i = 0; i < 5; i++) {
      await sleep(HEARTBEAT_INTERVAL_MS);
      await between(hub);
      // Any frame counts as liveness, not only heartbeats.
      const reply = i % 2 === 0 ? await client.ask('hub:heartbeat', null) : await client.ask('hub:list_actors', {});
      expect(reply.type).toMatch(/^hub:(heartbeat_ack|actor_list)$/);
    }
    expect(client.closed).toBeNull();
    expect(client.frames.filter((f) => f.type === 'hub:disconnect')).toEqual([]);

    // Not vacuous: the same session does time out once it goes quiet.
    const notice = await client.next((f) => f.type === 'hub:disconnect', HEARTBEAT_TIMEOUT_MS + SLACK_MS);
    expect(notice.payload.reason).toBe('heartbeat_timeout');
  });

  it('keeps a session alive on runtime-answered pings alone, then times it out when they stop', async () => {
    const hub = freshHub('ping-alive');
    const client = await WorkerdClient.connected(hub, '@(to/pinger)');
    await client.ask('hub:register', { actorAddress: '@(to/pinger)', capabilities: [], ttlSeconds: 60 });
    await between(hub);
    const started = Date.now();
    let lastPing = started;
    // Pings do not wake the hub; only its heartbeat alarm does, and it must find them.
    while (Date.now() - started < 2 * HEARTBEAT_TIMEOUT_MS) {
      await sleep(600);
      client.sendRaw('{"type":"ping"}');
      expect(await client.next((f) => f.type === 'pong')).toEqual({ type: 'pong' });
      lastPing = Date.now();
      if (between === hibernate) await hibernateIfAwake(hub);
    }
    expect(client.closed).toBeNull();
    expect(client.frames).toEqual([]);
    // The session and its registration are intact after outliving two timeouts.
    const list = await client.ask('hub:list_actors', {});
    expect(list.payload.total).toBe(1);

    const notice = await client.next((f) => f.type === 'hub:disconnect', HEARTBEAT_TIMEOUT_MS + SLACK_MS);
    expect(notice.payload.reason).toBe('heartbeat_timeout');
    expect(Date.now() - lastPing).toBeGreaterThanOrEqual(HEARTBEAT_TIMEOUT_MS - 50);
    expect((await client.waitClosed()).code).toBe(4408);
  });
});
