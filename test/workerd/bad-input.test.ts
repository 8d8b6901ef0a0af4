import { describe, expect, it } from 'vitest';
import { HUB_ADDRESS } from '../../src/protocol/envelope';
import { WorkerdClient, MODES, expectError, freshHub, type Frame } from './hub-client';

type Issue = { path: string; message: string };

const issuesOf = (payload: Record<string, any>): Issue[] => {
  const issues = payload.details?.issues as Issue[] | undefined;
  expect(Array.isArray(issues)).toBe(true);
  expect(issues!.length).toBeGreaterThan(0);
  for (const issue of issues!) {
    expect(typeof issue.path).toBe('string');
    expect(typeof issue.message).toBe('string');
  }
  return issues!;
};

const paths = (payload: Record<string, any>) => issuesOf(payload).map((i) => i.path);

/** Waits for the only reply the hub can give to a frame it cannot correlate. */
const nextUncorrelated = (client: WorkerdClient): Promise<Frame> => client.next((f) => f.correlationId === null);

describe.each(MODES)('bad input keeps the connection open, $mode (contract §2, §3)', ({ between }) => {
  const connectedClient = async (label: string) => {
    const hub = freshHub(label);
    const client = await WorkerdClient.connected(hub, `@(bad/${label})`);
    await between(hub);
    return { hub, client };
  };

  it.each([
    // The id is still readable in a frame cut off after it, so the error is correlated.
    ['truncated JSON', '{"id":"cut-1","type":', 'cut-1'],
    ['plain text', 'hello hub', null],
    ['empty frame', '', null],
  ])('answers %s with invalid_message', async (_label, text, correlationId) => {
    const { hub, client } = await connectedClient('badjson');
    client.sendRaw(text);
    const reply = await client.next((f) => f.type === 'hub:error');
    const p = expectError(reply, 'hub:error', 'invalid_message', correlationId);
    issuesOf(p);
    expect(p.retryable).toBe(false);
    await between(hub);
    await client.expectAlive();
  });

  it.each([
    ['an array', [1, 2, 3]],
    ['a string', 'just a string'],
    ['a number', 42],
    ['null', null],
  ])('answers a frame that is %s with invalid_message', async (_label, value) => {
    const { hub, client } = await connectedClient('notobject');
    client.sendJson(value);
    issuesOf(expectError(await nextUncorrelated(client), 'hub:error', 'invalid_message', null));
    await between(hub);
    await client.expectAlive();
  });

  it.each([
    ['timestamp', 'now', 'timestamp'],
    ['pattern', 'maybe', 'pattern'],
    ['from', 'not-an-address', 'from'],
    ['to', '@()', 'to'],
    ['type', 17, 'type'],
    ['metadata', 'flat', 'metadata'],
    ['ttl', -5, 'ttl'],
  ])('names the wrong envelope field %s in details.issues, correlated by id', async (field, value, path) => {
    const { hub, client } = await connectedClient('wrongtype');
    const msg = { ...client.build('hub:heartbeat', null), [field]: value };
    client.sendJson(msg);
    const p = expectError(await client.reply(msg.id), 'hub:error', 'invalid_message', msg.id);
    expect(paths(p)).toContain(path);
    await between(hub);
    await client.expectAlive();
  });

  it.each(['id', 'from', 'to', 'type', 'pattern', 'timestamp'])('reports the missing envelope field %s', async (field) => {
    const { hub, client } = await connectedClient('missing');
    const msg: Record<string, unknown> = { ...client.build('hub:heartbeat', null) };
    const id = msg.id as string;
    delete msg[field];
    client.sendJson(msg);
    const reply = field === 'id' ? await nextUncorrelated(client) : await client.reply(id);
    const p = expectError(reply, 'hub:error', 'invalid_message', field === 'id' ? null : id);
    expect(paths(p)).toContain(field);
    await between(hub);
    await client.expectAlive();
  });

  it('cannot correlate an id that is not a string, and still answers', async () => {
    const { client } = await connectedClient('numericid');
    client.sendJson({ ...client.build('hub:heartbeat', null), id: 12345 });
    const p = expectError(await nextUncorrelated(client), 'hub:error', 'invalid_message', null);
    expect(paths(p)).toContain('id');
    await client.expectAlive();
  });

  it('lists every problem of a frame, not only the first', async () => {
    const { client } = await connectedClient('manyissues');
    const msg = { ...client.build('hub:heartbeat', null), pattern: 'maybe', timestamp: 'now', to: 'nowhere' };
    client.sendJson(msg);
    const p = expectError(await client.reply(msg.id), 'hub:error', 'invalid_message', msg.id);
    expect(paths(p)).toEqual(expect.arrayContaining(['pattern', 'timestamp', 'to']));
  });

  it.each([
    ['capabilities of the wrong type', { actorAddress: '@(bad/x)', capabilities: 'chat' }, 'payload.capabilities'],
    ['a missing actorAddress', { capabilities: [] }, 'payload.actorAddress'],
    ['a malformed actorAddress', { actorAddress: 'bad/x', capabilities: [] }, 'payload.actorAddress'],
    ['a negative ttlSeconds', { actorAddress: '@(bad/x)', capabilities: [], ttlSeconds: -1 }, 'payload.ttlSeconds'],
    ['a null payload', null, 'payload'],
  ])('refuses hub:register with %s, naming the payload field', async (_label, payload, path) => {
    const { hub, client } = await connectedClient('badpayload');
    const msg = { ...client.build('hub:register', { actorAddress: '@(bad/x)', capabilities: [] }), payload };
    client.sendJson(msg);
    const p = expectError(await client.reply(msg.id), 'hub:error', 'invalid_message', msg.id);
    expect(paths(p).some((x) => x.startsWith(path))).toBe(true);
    await between(hub);
    // Nothing was registered by the refused frame.
    expect((await client.ask('hub:list_actors', {})).payload.total).toBe(0);
    await client.expectAlive();
  });

  it('refuses hub:discover and hub:list_actors payloads of the wrong shape', async () => {
    const { client } = await connectedClient('badquery');
    const discover = { ...client.build('hub:discover', { pattern: '*' }), payload: { pattern: 7 } };
    client.sendJson(discover);
    expect(paths(expectError(await client.reply(discover.id), 'hub:error', 'invalid_message', discover.id))).toContain(
      'payload.pattern',
    );
    const list = { ...client.build('hub:list_actors', {}), payload: { offset: -1, limit: 'ten' } };
    client.sendJson(list);
    expect(paths(expectError(await client.reply(list.id), 'hub:error', 'invalid_message', list.id))).toEqual(
      expect.arrayContaining(['payload.offset', 'payload.limit']),
    );
    await client.expectAlive();
  });

  it('answers an unknown hub:* type with unknown_type', async () => {
    const { hub, client } = await connectedClient('unknowntype');
    const msg = { ...client.build('hub:heartbeat', null), type: 'hub:frobnicate' };
    client.sendJson(msg);
    const p = expectError(await client.reply(msg.id), 'hub:error', 'unknown_type', msg.id);
    expect(p.retryable).toBe(false);
    await between(hub);
    await client.expectAlive();
  });

  it('treats a binary frame holding UTF-8 JSON like text', async () => {
    const { hub, client } = await connectedClient('binary');
    const hb = client.build('hub:heartbeat', { timestamp: 777 });
    client.sendRaw(new TextEncoder().encode(JSON.stringify(hb)).buffer as ArrayBuffer);
    const ack = await client.reply(hb.id);
    expect(ack).toMatchObject({ type: 'hub:heartbeat_ack', payload: { timestamp: 777 } });

    await between(hub);
    // Multi-byte characters survive the decoding.
    const reg = client.build('hub:register', {
      actorAddress: '@(bad/binary/ünïcødé-✓)',
      capabilities: ['çhat'],
      metadata: { label: 'Zoë 🚀' },
    });
    client.sendRaw(new TextEncoder().encode(JSON.stringify(reg)).buffer as ArrayBuffer);
    expect((await client.reply(reg.id)).payload.actorAddress).toBe('@(bad/binary/ünïcødé-✓)');
    const list = await client.ask('hub:list_actors', {});
    expect(list.payload.actors[0]).toMatchObject({
      actorAddress: '@(bad/binary/ünïcødé-✓)',
      capabilities: ['çhat'],
      metadata: { label: 'Zoë 🚀' },
    });

    client.sendRaw(new TextEncoder().encode('{broken').buffer as ArrayBuffer);
    expectError(await nextUncorrelated(client), 'hub:error', 'invalid_message', null);
    await client.expectAlive();
  });

  it('answers a 2 MB frame with hub:message_too_large and keeps the connection', async () => {
    const { hub, client } = await connectedClient('toolarge');
    const msg = client.build('hub:register', {
      actorAddress: '@(bad/large)',
      capabilities: [],
      metadata: { blob: 'x'.repeat(2 * 1024 * 1024) },
    });
    const text = JSON.stringify(msg);
    client.sendRaw(text);
    const reply = await client.next((f) => f.type === 'hub:message_too_large', 10_000);
    const p = expectError(reply, 'hub:message_too_large', 'message_too_large', msg.id);
    expect(p.maxSize).toBe(1_048_576);
    expect(p.messageSize).toBe(new TextEncoder().encode(text).byteLength);
    expect(p.retryable).toBe(false);
    await between(hub);
    await client.expectAlive();
    expect((await client.ask('hub:list_actors', {})).payload.total).toBe(0);
  });

  it('refuses a 10 000-character address with invalid_message and details.issues', async () => {
    const { hub, client } = await connectedClient('longaddr');
    const longAddress = `@(${'a'.repeat(10_000)})`;
    const reg = { ...client.build('hub:register', { actorAddress: '@(ok)', capabilities: [] }), payload: { actorAddress: longAddress, capabilities: [] } };
    client.sendJson(reg);
    expect(paths(expectError(await client.reply(reg.id), 'hub:error', 'invalid_message', reg.id))).toContain(
      'payload.actorAddress',
    );

    const asSender = { ...client.build('hub:heartbeat', null), from: longAddress };
    client.sendJson(asSender);
    expect(paths(expectError(await client.reply(asSender.id), 'hub:error', 'invalid_message', asSender.id))).toContain(
      'from',
    );
    await between(hub);
    await client.expectAlive();
  });

  it('accepts an address of exactly 256 path characters and refuses 257', async () => {
    const { client } = await connectedClient('addrlimit');
    const ok = await client.ask('hub:register', { actorAddress: `@(${'p'.repeat(256)})`, capabilities: [] });
    expect(ok.type).toBe('hub:registered');
    const tooLong = client.build('hub:register', { actorAddress: `@(${'p'.repeat(257)})`, capabilities: [] });
    client.sendJson(tooLong);
    expectError(await client.reply(tooLong.id), 'hub:error', 'invalid_message', tooLong.id);
  });

  it('answers a pathological glob against a long address correctly', async () => {
    const { hub, client } = await connectedClient('glob');
    const noB = `@(${'a'.repeat(250)})`;
    const withB = `@(${'a'.repeat(249)}b)`;
    for (const actorAddress of [noB, withB]) {
      expect((await client.ask('hub:register', { actorAddress, capabilities: [] })).type).toBe('hub:registered');
    }
    await between(hub);
    const evil = '*a*a*a*a*a*a*a*a*a*a*b';
    const found = await client.ask('hub:discover', { pattern: evil });
    expect(found.type).toBe('hub:discovered');
    expect(found.payload.actors.map((a: { address: string }) => a.address)).toEqual([withB]);

    // A far longer run of stars against both addresses: still a plain answer.
    const longer = `${'*a'.repeat(300)}*b`;
    const none = await client.ask('hub:discover', { pattern: longer });
    expect(none.payload.actors).toEqual([]);
    const wrapped = await client.ask('hub:discover', { pattern: `@(${'*a'.repeat(200)}*)` });
    expect(wrapped.payload.actors.map((a: { address: string }) => a.address).sort()).toEqual([noB, withB].sort());
    await client.expectAlive();
  });

  it('answers an expired ask with message_expired and drops an expired tell', async () => {
    const { hub, client } = await connectedClient('expired');
    const stale = Date.now() - 60_000;
    const askId = client.request('hub:list_actors', {}, { timestamp: stale, ttl: 1_000 });
    const p = expectError(await client.reply(askId), 'hub:error', 'message_expired', askId);
    expect(p.retryable).toBe(true);

    await between(hub);
    const tellId = client.request(
      'hub:register',
      { actorAddress: '@(bad/expired)', capabilities: [] },
      { timestamp: stale, ttl: 1_000, pattern: 'tell' },
    );
    // Replies come in order: once the heartbeat is answered, the tell got no answer.
    await client.expectAlive();
    expect(client.frames.filter((f) => f.correlationId === tellId)).toEqual([]);
    expect((await client.ask('hub:list_actors', {})).payload.total).toBe(0);

    // A ttl that has not run out is processed normally.
    const fresh = await client.ask('hub:list_actors', {}, { ttl: 60_000 });
    expect(fresh.type).toBe('hub:actor_list');
  });

  it('addresses error replies to the session identity with a metadata object', async () => {
    const { client } = await connectedClient('replyshape');
    client.sendRaw('not json');
    const reply = await nextUncorrelated(client);
    expect(reply).toMatchObject({ from: HUB_ADDRESS, to: '@(bad/replyshape)', pattern: 'tell', metadata: {} });
    for (const key of ['id', 'from', 'to', 'type', 'payload', 'pattern', 'correlationId', 'timestamp', 'metadata', 'ttl', 'signature']) {
      expect(reply).toHaveProperty(key);
    }
  });
});

describe('bad input before hub:connect', () => {
  it('answers garbage with invalid_message and still lets the socket connect', async () => {
    const hub = freshHub('precon');
    const client = await WorkerdClient.open(hub, '@(bad/precon)');
    client.sendRaw('{{{');
    expectError(await nextUncorrelated(client), 'hub:error', 'invalid_message', null);
    const big = client.build('hub:heartbeat', null, { metadata: { pad: 'y'.repeat(1_100_000) } });
    client.sendRaw(JSON.stringify(big));
    expectError(await client.reply(big.id, 10_000), 'hub:message_too_large', 'message_too_large', big.id);
    expect(client.closed).toBeNull();
    expect((await client.connect()).type).toBe('hub:connected');
  });
});
