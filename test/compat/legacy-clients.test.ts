import { SignJWT } from 'jose';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startDevServer, type DevServer } from '../../harness/net/dev-server';
import { LegacyClient, NODE_FIXED_FROM, type Flavour, type Msg } from './support/legacy-client';

/**
 * The flows of the deployed 0.1.0 clients (a Node and a browser library),
 * played over real TCP WebSockets against `wrangler dev`: throw-away connect
 * addresses, registers sent from the address being registered, heartbeats
 * from a fixed address with a null payload, null-payload renews and
 * unregisters, topic names passed as subscription ids, non-canonical
 * targets. The Node stand-in disconnects itself on any hub:unauthorized, as
 * the real one does, so every test also proves that none was sent.
 */

const SECRET = 'dev-secret-change-in-production';
const sleep = (ms: number) => new Promise<void>((done) => setTimeout(done, ms));

let off: DevServer;
let on: DevServer;
/** Compressed time: 1 s heartbeats, 3 s heartbeat timeout, registrations clamped to 3 s. */
let fast: DevServer;
const clients: LegacyClient[] = [];
let hubNo = 0;

const hubUrl = (server: DevServer, label: string): string => `${server.wsUrl}/ws/${label}-${process.pid}-${++hubNo}`;

/** A 0.1.0 test token: HS256, only sub (a whole address), capabilities, iat and exp; no iss, no actorId. */
const legacyJwt = async (sub: string, capabilities: string[], expInSeconds = 3600): Promise<string> => {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ sub, capabilities, iat: now, exp: now + expInSeconds })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .sign(new TextEncoder().encode(SECRET));
};

const client = (url: string, flavour: Flavour, extra: Partial<ConstructorParameters<typeof LegacyClient>[0]> = {}): LegacyClient => {
  const c = new LegacyClient({ url, flavour, jwt: 'ignored-when-auth-is-off', ...extra });
  clients.push(c);
  return c;
};

/** connect() then registerActor(), as the old wrappers' create helpers do. */
const actor = async (
  url: string,
  flavour: Flavour,
  address: string,
  capabilities: string[] = [],
  jwt?: string,
  extra: { silent?: boolean } = {},
): Promise<LegacyClient> => {
  const c = client(url, flavour, { ...(jwt !== undefined ? { jwt } : {}), ...extra });
  await c.connect();
  await c.register(address, capabilities);
  return c;
};

/** No client dropped itself over a hub:unauthorized, and none saw a hub:error. */
const expectNoRefusals = (...cs: LegacyClient[]): void => {
  for (const c of cs) {
    expect(c.selfDisconnected, c.tmp).toBeNull();
    expect(c.errors, c.tmp).toEqual([]);
  }
};

/** A heartbeat-free probe that the hub still serves this client: a discover round trip. */
const alive = async (c: LegacyClient, from: string): Promise<void> => {
  await c.discover(from);
  expect(c.state).toBe('connected');
};

beforeAll(async () => {
  [off, on, fast] = await Promise.all([
    startDevServer(),
    startDevServer({ vars: { AUTH_ENABLED: true, JWT_SECRET: SECRET } }),
    startDevServer({ vars: { HB_INTERVAL_SECONDS: 1, HEARTBEAT_TIMEOUT_MS: 3000, DEFAULT_ACTOR_TTL: 3, MAX_ACTOR_TTL: 3 } }),
  ]);
  // Three servers start at once while other projects' workerd tests run on the same two cores: in one CI
  // run (e3a33cc, 02:01 UTC) that took longer than the project's 90 s hook timeout, so this hook has more.
}, 180_000);

afterEach(async () => {
  for (const c of clients.splice(0)) {
    if (c.state === 'connected') await c.disconnect();
    c.kill();
  }
});

afterAll(async () => {
  await Promise.all([off?.stop(), on?.stop(), fast?.stop()]);
});

describe('0.1.0 clients, auth off', () => {
  it('connects from a throw-away address and registers from the registered address (both flavours)', async () => {
    const url = hubUrl(off, 'connect');
    const seag = client(url, 'node');
    const connected = await seag.connect();
    expect(connected.payload.sessionId).toBeTruthy();
    expect(connected.payload.heartbeatInterval).toBe(20_000);
    expect(connected.metadata.actorIdentity).toBe(seag.tmp);
    const reg = await seag.register('@(local/test-seag)', ['compute', 'inference']);
    expect(reg.to).toBe('@(local/test-seag)');
    // The Node client reads these from metadata only.
    expect(reg.metadata).toMatchObject({ renewalToken: reg.payload.renewalToken, expiresAt: reg.payload.expiresAt, version: 1 });

    const browser = await actor(url, 'browser', '@(browser/test-browser)', ['ui', 'interaction']);
    expect(browser.sessionId).not.toBe(seag.sessionId);
    expectNoRefusals(seag, browser);
  });

  it('discovers by glob and by capability', async () => {
    const url = hubUrl(off, 'discover');
    const seag = await actor(url, 'node', '@(local/seag-filter)', ['compute', 'ml']);
    await actor(url, 'node', '@(local/seag-filter-2)', ['storage', 'ml']);
    const browser = await actor(url, 'browser', '@(browser/browser-filter)', ['ui']);
    const all = await seag.discover('@(local/seag-filter)');
    expect(all.map((a) => a.address).sort()).toEqual(['@(browser/browser-filter)', '@(local/seag-filter)', '@(local/seag-filter-2)']);
    const ml = await browser.discover('@(browser/browser-filter)', 'ml');
    expect(ml.map((a) => a.address).sort()).toEqual(['@(local/seag-filter)', '@(local/seag-filter-2)']);
    for (const a of ml) expect(a.capabilities).toContain('ml');
    expectNoRefusals(seag, browser);
  });

  it('asks and tells between a Node and a browser client: flat payload, delivery_ack to the asker, order kept', async () => {
    const url = hubUrl(off, 'messaging');
    const seag = await actor(url, 'node', '@(local/test-seag)', ['compute']);
    const browser = await actor(url, 'browser', '@(browser/test-browser)', ['ui']);
    const nested = { a: null, list: [1, 'two', { three: 3 }], deep: { b: { c: { d: 'x' } } } };
    seag.tell('@(local/test-seag)', '@(browser/test-browser)', 'test:ping', nested, { custom: 'value', requestId: 'req-123' });
    const got = await browser.waitFor((m) => m.type === 'test:ping');
    expect(got).toMatchObject({ from: '@(local/test-seag)', to: '@(browser/test-browser)', pattern: 'tell', correlationId: null, payload: nested });
    expect(got.metadata).toMatchObject({ custom: 'value', requestId: 'req-123', forwarded: true, via: '@(cloudflare/signal-hub)' });

    const ack = await seag.sendWithAck('@(local/test-seag)', '@(browser/test-browser)', 'test:request', { n: 1 });
    expect(ack.type).toBe('hub:delivery_ack');
    expect(ack.payload).toMatchObject({ status: 'delivered' });
    const back = await browser.sendWithAck('@(browser/test-browser)', '@(local/test-seag)', 'test:reply', { n: 2 });
    expect(back.type).toBe('hub:delivery_ack');
    expect((await seag.waitFor((m) => m.type === 'test:reply')).from).toBe('@(browser/test-browser)');

    for (let i = 0; i < 10; i++) seag.tell('@(local/test-seag)', '@(browser/test-browser)', 'test:order', { sequence: i });
    await browser.waitFor((m) => m.type === 'test:order' && m.payload.sequence === 9);
    expect(browser.messages('test:order').map((m) => m.payload.sequence)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expectNoRefusals(seag, browser);
  });

  it('broadcasts to every actor, the sender included unless excludeSelf', async () => {
    const url = hubUrl(off, 'broadcast');
    const seag = await actor(url, 'node', '@(local/seag-bc-1)', ['compute']);
    const b1 = await actor(url, 'browser', '@(browser/bc-1)', ['ui']);
    const b2 = await actor(url, 'browser', '@(browser/bc-2)', ['rendering']);
    seag.broadcast('@(local/seag-bc-1)', 'test:multi:broadcast', { sender: 'seag1' });
    for (const c of [seag, b1, b2]) {
      const m = await c.waitFor((x) => x.type === 'test:multi:broadcast');
      expect(m).toMatchObject({ from: '@(local/seag-bc-1)', payload: { sender: 'seag1' }, metadata: { broadcast: true } });
    }
    b1.broadcast('@(browser/bc-1)', 'test:only-others', { n: 2 }, { excludeSelf: true });
    await seag.waitFor((x) => x.type === 'test:only-others');
    await b2.waitFor((x) => x.type === 'test:only-others');
    await alive(b1, '@(browser/bc-1)');
    expect(b1.messages('test:only-others')).toEqual([]);
    // The ack of a tell broadcast is not asked for; nothing else came back.
    expectNoRefusals(seag, b1, b2);
  });

  it('subscribes, publishes and unsubscribes, including the topic passed as subscriptionId', async () => {
    const url = hubUrl(off, 'pubsub');
    const seag = await actor(url, 'node', '@(local/test-seag)', ['compute']);
    const browser = await actor(url, 'browser', '@(browser/test-browser)', ['ui']);
    const subId = await seag.subscribe('@(local/test-seag)', 'identity-test-topic');
    expect(subId).toBeTruthy();
    await browser.subscribe('@(browser/test-browser)', 'unsub-topic');
    await browser.subscribe('@(browser/test-browser)', 'identity-test-topic');

    seag.publish('@(local/test-seag)', 'identity-test-topic', 'test:topic:message', { data: 'hi' });
    const atSeag = await seag.waitFor((m) => m.type === 'test:topic:message');
    // A publisher subscribed to its own topic gets its publication, addressed to the subscribing address.
    expect(atSeag).toMatchObject({ to: '@(local/test-seag)', from: '@(local/test-seag)', metadata: { topic: 'identity-test-topic', publication: true } });
    expect((await browser.waitFor((m) => m.type === 'test:topic:message')).to).toBe('@(browser/test-browser)');

    seag.publish('@(local/test-seag)', 'unsub-topic', 'test:unsub:first', {});
    await browser.waitFor((m) => m.type === 'test:unsub:first');
    browser.unsubscribe('@(browser/test-browser)', 'unsub-topic');
    seag.unsubscribe('@(local/test-seag)', subId);
    await alive(browser, '@(browser/test-browser)');
    await alive(seag, '@(local/test-seag)');
    seag.publish('@(local/test-seag)', 'unsub-topic', 'test:unsub:second', {});
    seag.publish('@(local/test-seag)', 'identity-test-topic', 'test:after-unsubscribe', {});
    await browser.waitFor((m) => m.type === 'test:after-unsubscribe');
    await alive(seag, '@(local/test-seag)');
    expect(browser.messages('test:unsub:second')).toEqual([]);
    expect(seag.messages('test:after-unsubscribe')).toEqual([]);
    expectNoRefusals(seag, browser);
  });

  it('forwards a 900 KiB payload intact', async () => {
    const url = hubUrl(off, 'large');
    const seag = await actor(url, 'node', '@(local/test-seag)');
    const browser = await actor(url, 'browser', '@(browser/test-browser)');
    seag.tell('@(local/test-seag)', '@(browser/test-browser)', 'test:large:ok', { data: 'x'.repeat(900 * 1024) });
    const got = await browser.waitFor((m) => m.type === 'test:large:ok', 15_000);
    expect(got.payload.data.length).toBe(921_600);
    expectNoRefusals(seag, browser);
  });

  it('answers an ask to an unregistered or non-canonical address with hub:unknown_actor, drops such tells', async () => {
    const url = hubUrl(off, 'unknown');
    const seag = await actor(url, 'node', '@(local/test-seag)');
    for (const to of ['@(local/non-existent-ask)', 'runtime:fake/actor-999']) {
      const err = (await seag.sendWithAck('@(local/test-seag)', to, 'test:message', { data: 'should fail' }).then(
        () => null,
        (e: Error & { reply?: Msg }) => e,
      )) as (Error & { reply?: Msg }) | null;
      expect(err?.message).toContain('not registered');
      expect(err?.reply).toMatchObject({ type: 'hub:unknown_actor', payload: { code: 'unknown_actor', actorAddress: to } });
      expect(err?.reply?.payload.resolution).toMatch(/\S/);
    }
    seag.errors.length = 0;
    seag.tell('@(local/test-seag)', 'not-a-valid-address', 'test:x', {});
    seag.tell('@(local/test-seag)', '@(local/does-not-exist)', 'test:x', {});
    await alive(seag, '@(local/test-seag)');
    expectNoRefusals(seag);
  });

  it('releases a client whose TCP connection dies at once: its address leaves discovery and an ask to it is unknown_actor', async () => {
    // Contract §4 "Close": on any close the registrations are released. Session resume
    // (a grace period after a drop) is for protocol 0.2 clients only; these speak 0.1.0.
    const url = hubUrl(off, 'dropped');
    const seag = await actor(url, 'node', '@(local/drop-seag)');
    const gone = await actor(url, 'node', '@(local/drop-victim)');
    gone.kill();
    const deadline = Date.now() + 5_000;
    let listed = true;
    while (listed && Date.now() < deadline) {
      listed = (await seag.discover('@(local/drop-seag)')).some((a) => a.address === '@(local/drop-victim)');
      if (listed) await new Promise((r) => setTimeout(r, 100));
    }
    expect(listed, 'the dropped client is still discoverable 5 s after its connection died').toBe(false);
    const err = (await seag.sendWithAck('@(local/drop-seag)', '@(local/drop-victim)', 'test:message', {}).then(
      () => null,
      (e: Error & { reply?: Msg }) => e,
    )) as (Error & { reply?: Msg }) | null;
    expect(err?.message).toContain('not registered');
    expect(err?.reply).toMatchObject({ type: 'hub:unknown_actor', payload: { actorAddress: '@(local/drop-victim)' } });
    seag.errors.length = 0;
    expectNoRefusals(seag);
  });

  it('keeps a Node client\'s session and registration across renew ticks with the first token only', async () => {
    // Compressed time: registrations last 3 s and the client renews on every 1 s heartbeat.
    const url = hubUrl(fast, 'renew');
    const seag = await actor(url, 'node', '@(local/renewing)', ['compute']);
    const watcher = await actor(url, 'node', '@(local/watcher)');
    expect(seag.heartbeatInterval).toBe(1000);
    await sleep(8_000);
    expect(seag.heartbeatsSent).toBeGreaterThanOrEqual(5);
    expect(seag.renewsSent).toBeGreaterThanOrEqual(5);
    // Still registered long after its 3 s TTL, and still connected.
    const found = await watcher.discover('@(local/watcher)', 'compute');
    expect(found.map((a) => a.address)).toEqual(['@(local/renewing)']);
    expect(seag.closeEvent).toBeNull();
    expectNoRefusals(seag, watcher);
  });

  it('unregisters with a null payload: the address in from leaves discovery', async () => {
    const url = hubUrl(off, 'unregister');
    const seag = await actor(url, 'node', '@(local/leaving)', ['compute']);
    const watcher = await actor(url, 'browser', '@(browser/watcher)');
    seag.unregister('@(local/leaving)');
    await alive(seag, '@(local/other)');
    expect((await watcher.discover('@(browser/watcher)', 'compute')).map((a) => a.address)).toEqual([]);
    expectNoRefusals(seag, watcher);
  });

  it('evicts the older session when another client registers its address, and routes to the newer one', async () => {
    const url = hubUrl(off, 'duplicate');
    const first = await actor(url, 'node', '@(local/test-seag)', ['compute']);
    const browser = await actor(url, 'browser', '@(browser/test-browser)');
    const second = await actor(url, 'node', '@(local/test-seag)', ['compute', 'inference']);
    const notice = await first.waitFor((m) => m.type === 'hub:disconnect', 2_000);
    expect(notice.payload.reason).toBe('duplicate_connection');
    expect((await first.waitClosed(2_000)).code).toBe(4409);
    browser.tell('@(browser/test-browser)', '@(local/test-seag)', 'test:ping2', { data: 'hello again' });
    expect((await second.waitFor((m) => m.type === 'test:ping2', 2_000)).payload).toEqual({ data: 'hello again' });
    const found = await browser.discover('@(browser/test-browser)', 'compute');
    expect(found).toEqual([expect.objectContaining({ address: '@(local/test-seag)', capabilities: ['compute', 'inference'] })]);
    // Re-registering on the same socket keeps the session and its subscriptions.
    await second.subscribe('@(local/test-seag)', 'reconnect-test-topic');
    await second.register('@(local/test-seag)', ['compute']);
    browser.publish('@(browser/test-browser)', 'reconnect-test-topic', 'test:reconnect:message', { data: 'after reconnect' });
    expect((await second.waitFor((m) => m.type === 'test:reconnect:message')).to).toBe('@(local/test-seag)');
    expect(second.closeEvent).toBeNull();
    expectNoRefusals(second, browser);
  });

  it('acknowledges the Node client\'s hub:disconnect (ask, ttl 500) before the close, and releases at once', async () => {
    const url = hubUrl(off, 'disconnect');
    const seag = await actor(url, 'node', '@(local/test-seag)');
    const browser = await actor(url, 'browser', '@(browser/test-browser)');
    const ack = await seag.disconnect();
    expect(ack).toMatchObject({ type: 'hub:disconnect', payload: { acknowledged: true } });
    expect((await seag.waitClosed()).code).toBe(1000);
    // The browser's disconnect is a tell followed by an immediate close.
    await browser.disconnect();
    const watcher = await actor(url, 'node', '@(local/watcher)');
    await sleep(500);
    expect(await watcher.discover('@(local/watcher)')).toEqual([expect.objectContaining({ address: '@(local/watcher)' })]);
  });

  it('serves many concurrent clients and rapid connect/disconnect cycles on the same throw-away address', async () => {
    const url = hubUrl(off, 'concurrent');
    const many = await Promise.all(Array.from({ length: 20 }, (_, i) => actor(url, i % 2 ? 'node' : 'browser', `@(local/concurrent-${i})`, ['test'])));
    expect(new Set(many.map((c) => c.sessionId)).size).toBe(20);
    const found = await many[0]!.discover('@(local/concurrent-0)', 'test');
    expect(found).toHaveLength(20);

    const peer = await actor(url, 'browser', '@(browser/peer)');
    const cycler = client(url, 'node');
    for (let round = 0; round < 5; round++) {
      await cycler.connect();
      await cycler.register('@(local/cycler)', []);
      cycler.tell('@(local/cycler)', '@(browser/peer)', 'test:reconnect', { round });
      await peer.waitFor((m) => m.type === 'test:reconnect' && m.payload.round === round);
      await cycler.disconnect();
    }
    expectNoRefusals(peer, cycler, ...many);
  });
});

describe('0.1.0 clients, auth on (their own tokens: sub, capabilities, iat, exp; no iss, no actorId)', () => {
  it('connects, registers its sub, and exchanges messages; capabilities come from the token', async () => {
    const url = hubUrl(on, 'auth');
    const seag = await actor(url, 'node', '@(local/test-seag)', ['ignored'], await legacyJwt('@(local/test-seag)', ['compute', 'inference']));
    expect(seag.identity).toBe('@(local/test-seag)');
    const browser = await actor(url, 'browser', '@(browser/test-browser)', [], await legacyJwt('@(browser/test-browser)', ['ui']));
    const found = await browser.discover('@(browser/test-browser)', 'compute');
    expect(found).toEqual([expect.objectContaining({ address: '@(local/test-seag)', capabilities: ['compute', 'inference'] })]);
    const ack = await browser.sendWithAck('@(browser/test-browser)', '@(local/test-seag)', 'test:auth', { ok: true });
    expect(ack.type).toBe('hub:delivery_ack');
    expect((await seag.waitFor((m) => m.type === 'test:auth')).from).toBe('@(browser/test-browser)');
    await sleep(100);
    expectNoRefusals(seag, browser);
  });

  it('still refuses what it must: a spoofed sender, an out-of-scope address, an expired or malformed token', async () => {
    const url = hubUrl(on, 'auth-refuse');
    const mallory = await actor(url, 'browser', '@(browser/mallory)', [], await legacyJwt('@(browser/mallory)', []));
    await actor(url, 'browser', '@(browser/victim)', [], await legacyJwt('@(browser/victim)', []));
    const spoofed = await mallory.sendWithAck('@(browser/victim)', '@(browser/victim)', 'test:spoof', {}).catch((e: Error & { reply?: Msg }) => e.reply);
    expect(spoofed).toMatchObject({ type: 'hub:unauthorized', payload: { reason: 'identity_mismatch' } });
    const outOfScope = await mallory.register('@(browser/victim/inbox)', []).catch((e: Error & { reply?: Msg }) => e.reply);
    expect(outOfScope).toMatchObject({ type: 'hub:unauthorized', payload: { reason: 'scope_violation' } });

    for (const jwt of [await legacyJwt('@(local/expired)', ['test'], -3600), 'invalid.jwt.token']) {
      const c = client(url, 'node', { jwt });
      const refused = await c.connect().catch((e: Error & { reply?: Msg }) => e.reply);
      expect(refused).toMatchObject({ type: 'hub:unauthorized', payload: { action: 'connect' } });
      expect((await c.waitClosed()).code).toBe(4401);
    }
  });
});

describe('idle and long-lived 0.1.0 sessions', () => {
  it('a client idle for 26 s without a single heartbeat, and one on its own heartbeat, are both still connected', async () => {
    const url = hubUrl(off, 'idle');
    // Sends nothing at all after registering; the object hibernates meanwhile (local workerd: ~10 s idle).
    const silent = await actor(url, 'browser', '@(browser/silent)', ['ui'], undefined, { silent: true });
    const beating = await actor(url, 'node', '@(local/test-seag)', ['compute']);
    const started = Date.now();
    await sleep(26_000);
    expect(Date.now() - started).toBeGreaterThanOrEqual(26_000);
    expect(beating.heartbeatsSent).toBeGreaterThanOrEqual(1);
    expect(beating.renewsSent).toBeGreaterThanOrEqual(1);
    for (const [c, from] of [[silent, '@(browser/silent)'], [beating, '@(local/test-seag)']] as const) {
      expect(c.closeEvent).toBeNull();
      await alive(c, from);
    }
    beating.tell('@(local/test-seag)', '@(browser/silent)', 'test:after-idle', { ok: 1 });
    await silent.waitFor((m) => m.type === 'test:after-idle');
    expectNoRefusals(silent, beating);
  }, 45_000);

  it('a Node client session stays connected through many heartbeat periods and heartbeat timeouts', async () => {
    // Compressed time: 1 s heartbeat interval, 3 s timeout; 12 s is four timeouts long.
    const url = hubUrl(fast, 'long');
    const seag = await actor(url, 'node', '@(local/long-lived)', ['compute']);
    const peer = await actor(url, 'node', '@(local/peer)');
    // The control: a session that sends no heartbeats is timed out meanwhile.
    const quiet = await actor(url, 'browser', '@(browser/quiet)', [], undefined, { silent: true });
    for (let second = 0; second < 12; second++) {
      await sleep(1_000);
      peer.tell('@(local/peer)', '@(local/long-lived)', 'test:tick', { second });
    }
    await seag.waitFor((m) => m.type === 'test:tick' && m.payload.second === 11);
    expect(seag.messages('test:tick')).toHaveLength(12);
    expect(seag.closeEvent).toBeNull();
    expect(seag.heartbeatsSent).toBeGreaterThanOrEqual(10);
    const timedOut = await quiet.waitFor((m) => m.type === 'hub:disconnect');
    expect(timedOut.payload.reason).toBe('heartbeat_timeout');
    expectNoRefusals(seag, peer);
  }, 30_000);
});
