import { describe, expect } from 'vitest';
import { HUB_ADDRESS } from '../../src/protocol/envelope';
import { configWith } from '../../harness/fake-object';
import { PROTOCOL_VERSION, bothWays, expectError, utf8, type Msg, type Peer } from './core-harness';

/**
 * Malformed and hostile input (§2, §3): every bad frame gets a typed error,
 * nothing crashes, and the connection keeps working afterwards.
 */

const issuesOf = (reply: Msg): { path: string; message: string }[] => {
  const issues = reply.payload.details?.issues;
  expect(Array.isArray(issues)).toBe(true);
  expect(issues.length).toBeGreaterThan(0);
  for (const issue of issues) {
    expect(typeof issue.path).toBe('string');
    expect(typeof issue.message).toBe('string');
  }
  return issues;
};

/** The only frame sent in answer to the last raw frame. */
const onlyReply = (peer: Peer): Msg => {
  const fresh = peer.inbox();
  expect(fresh).toHaveLength(1);
  return fresh[0]!;
};

describe('bad frames get invalid_message and the connection survives (§2)', () => {
  bothWays('malformed JSON', (sc) => {
    const a = sc.connect('@(a)');
    a.raw('{"id":"broken-1","type":"hub:heartbeat",');
    const reply = onlyReply(a);
    expectError(reply, 'invalid_message');
    expect(reply.payload.retryable).toBe(false);
    issuesOf(reply);
    expect(reply.from).toBe(HUB_ADDRESS);
    expect(a.socket.closed).toBeNull();
    a.heartbeatOk();
  });

  for (const [label, frame] of [
    ['a JSON array', '[{"id":"x"}]'],
    ['a JSON string', '"hello"'],
    ['a JSON number', '42'],
    ['JSON null', 'null'],
    ['an empty frame', ''],
  ] as const) {
    bothWays(`${label} is not an envelope`, (sc) => {
      const a = sc.connect('@(a)');
      a.raw(frame);
      const reply = onlyReply(a);
      expectError(reply, 'invalid_message');
      issuesOf(reply);
      a.heartbeatOk();
    });
  }

  bothWays('wrong field types are each listed with their path, and the reply is correlated', (sc) => {
    const a = sc.connect('@(a)');
    const good = a.build('hub:heartbeat', null);
    a.raw(JSON.stringify({ ...good, from: 5, pattern: 'shout', timestamp: 'now', metadata: [] }));
    const reply = a.replyTo(good.id);
    expectError(reply, 'invalid_message');
    const paths = issuesOf(reply).map((i) => i.path);
    expect(paths).toEqual(expect.arrayContaining(['from', 'pattern', 'timestamp', 'metadata']));
    a.heartbeatOk();
  });

  bothWays('missing required fields are each listed', (sc) => {
    const a = sc.connect('@(a)');
    const { to: _to, pattern: _pattern, timestamp: _ts, ...rest } = a.build('hub:heartbeat', null);
    a.raw(JSON.stringify(rest));
    const reply = a.replyTo(rest.id);
    expectError(reply, 'invalid_message');
    expect(issuesOf(reply).map((i) => i.path)).toEqual(expect.arrayContaining(['to', 'pattern', 'timestamp']));
    a.heartbeatOk();
  });

  bothWays('a frame without an id gets an uncorrelated error', (sc) => {
    const a = sc.connect('@(a)');
    const { id: _id, ...rest } = a.build('hub:heartbeat', null);
    a.raw(JSON.stringify(rest));
    const reply = onlyReply(a);
    expectError(reply, 'invalid_message');
    expect(reply.correlationId).toBeNull();
    expect(issuesOf(reply).map((i) => i.path)).toContain('id');
  });

  bothWays('a non-canonical address is refused', (sc) => {
    const a = sc.connect('@(a)');
    for (const bad of ['alice', '@()', '@(a)b)', '@(a', '(a)']) {
      const reply = a.ask('hub:register', { actorAddress: bad, capabilities: [] });
      expectError(reply, 'invalid_message');
      expect(issuesOf(reply).map((i) => i.path)).toContain('payload.actorAddress');
    }
    expect(sc.fake.registry.all()).toEqual([]);
    a.heartbeatOk();
  });

  bothWays('a bad payload for a known type lists its issues under payload', (sc) => {
    const a = sc.connect('@(a)');
    const reply = a.ask('hub:discover', { pattern: 7 } as never);
    expectError(reply, 'invalid_message');
    expect(issuesOf(reply).map((i) => i.path)).toContain('payload.pattern');
    const neg = a.ask('hub:list_actors', { offset: -1 });
    expectError(neg, 'invalid_message');
    const ttl = a.ask('hub:register', { actorAddress: '@(a)', capabilities: [], ttlSeconds: -5 });
    expectError(ttl, 'invalid_message');
    const caps = a.ask('hub:register', { actorAddress: '@(a)', capabilities: 'chat' } as never);
    expectError(caps, 'invalid_message');
    a.heartbeatOk();
  });

  bothWays('a 10 000-character address is invalid_message, as payload or as envelope field', (sc) => {
    const a = sc.connect('@(a)');
    const huge = `@(${'x'.repeat(10_000)})`;
    const reply = a.ask('hub:register', { actorAddress: huge, capabilities: [] });
    expectError(reply, 'invalid_message');
    expect(issuesOf(reply).map((i) => i.path)).toContain('payload.actorAddress');
    const asFrom = a.build('hub:heartbeat', null, { from: huge });
    a.raw(JSON.stringify(asFrom));
    const fromReply = a.replyTo(asFrom.id);
    expectError(fromReply, 'invalid_message');
    expect(issuesOf(fromReply).map((i) => i.path)).toContain('from');
    // The reply is not addressed to the oversized address.
    expect(fromReply.to).toBe('@(a)');
    // 256 path characters are the maximum, and allowed.
    const max = `@(${'y'.repeat(256)})`;
    expect(a.ask('hub:register', { actorAddress: max, capabilities: [] }).type).toBe('hub:registered');
    expectError(a.ask('hub:register', { actorAddress: `@(${'y'.repeat(257)})`, capabilities: [] }), 'invalid_message');
    a.heartbeatOk();
  });

  bothWays('a bad frame before connect is answered and the session can still connect', (sc) => {
    const a = sc.open('@(a)');
    a.raw('not json');
    expectError(onlyReply(a), 'invalid_message');
    a.raw('[]');
    expectError(onlyReply(a), 'invalid_message');
    expect(a.ask('hub:connect', null, { metadata: { protocolVersion: PROTOCOL_VERSION } }).type).toBe('hub:connected');
  });
});

describe('binary frames (§1)', () => {
  bothWays('an ArrayBuffer of UTF-8 JSON works exactly like text, including connect', (sc) => {
    const a = sc.open('@(bin/ä)');
    const connect = a.build('hub:connect', null, { metadata: { protocolVersion: PROTOCOL_VERSION } });
    a.raw(utf8(JSON.stringify(connect)));
    const connected = a.replyTo(connect.id);
    expect(connected.type).toBe('hub:connected');
    expect(connected.metadata.actorIdentity).toBe('@(bin/ä)');
    const reg = a.build('hub:register', { actorAddress: '@(bin/ä)', capabilities: ['ü'], metadata: { name: 'Zoë' } });
    a.raw(utf8(JSON.stringify(reg)));
    expect(a.replyTo(reg.id).type).toBe('hub:registered');
    const found = a.ask('hub:discover', { pattern: 'bin/*' });
    expect(found.payload.actors).toEqual([{ address: '@(bin/ä)', capabilities: ['ü'], metadata: { name: 'Zoë' } }]);
    a.raw(utf8('{broken'));
    expectError(onlyReply(a), 'invalid_message');
    a.heartbeatOk();
  });
});

describe('size guard (§3)', () => {
  bothWays('a 2 MB frame gets hub:message_too_large {messageSize, maxSize} and the connection survives', (sc) => {
    const a = sc.connect('@(a)');
    const big = a.build('hub:heartbeat', { timestamp: 1 });
    const frame = JSON.stringify({ ...big, metadata: { pad: 'z'.repeat(2 * 1024 * 1024) } });
    a.raw(frame);
    const reply = onlyReply(a);
    expectError(reply, 'message_too_large');
    expect(reply.payload.messageSize).toBe(Buffer.byteLength(frame, 'utf8'));
    expect(reply.payload.maxSize).toBe(1_048_576);
    expect(reply.payload.retryable).toBe(false);
    expect(reply.correlationId).toBe(big.id);
    a.heartbeatOk();
  });

  bothWays('the limit counts UTF-8 bytes, not characters', (sc) => {
    const a = sc.connect('@(a)');
    // 600 000 two-byte characters: fewer characters than the limit, more bytes.
    const wide = a.build('hub:heartbeat', { timestamp: 1 });
    const frame = JSON.stringify({ ...wide, metadata: { pad: 'é'.repeat(600_000) } });
    expect(frame.length).toBeLessThan(1_048_576);
    a.raw(frame);
    const reply = a.replyTo(wide.id);
    expectError(reply, 'message_too_large');
    expect(reply.payload.messageSize).toBe(Buffer.byteLength(frame, 'utf8'));
    // The same byte count as a binary frame is measured the same way.
    a.raw(utf8(frame));
    expect(a.replyTo(wide.id).payload.messageSize).toBe(Buffer.byteLength(frame, 'utf8'));
    a.heartbeatOk();
  });

  bothWays('a frame just under the limit is processed', (sc) => {
    const a = sc.connect('@(a)');
    const near = a.build('hub:heartbeat', { timestamp: 5 });
    const skeleton = JSON.stringify({ ...near, metadata: { pad: '' } });
    const frame = JSON.stringify({ ...near, metadata: { pad: 'q'.repeat(1_048_576 - Buffer.byteLength(skeleton)) } });
    expect(Buffer.byteLength(frame)).toBe(1_048_576);
    a.raw(frame);
    expect(a.replyTo(near.id).type).toBe('hub:heartbeat_ack');
    const over = JSON.stringify({ ...near, metadata: { pad: 'q'.repeat(1_048_577 - Buffer.byteLength(skeleton)) } });
    expect(Buffer.byteLength(over)).toBe(1_048_577);
    a.raw(over);
    expectError(a.replyTo(near.id), 'message_too_large');
  });

  bothWays(
    'MAX_MESSAGE_SIZE is configurable',
    (sc) => {
      const a = sc.connect('@(a)');
      expect(a.connected!.payload.maxMessageSize).toBe(2048);
      const msg = a.build('hub:heartbeat', null);
      a.raw(JSON.stringify({ ...msg, metadata: { pad: 'p'.repeat(3000) } }));
      const reply = a.replyTo(msg.id);
      expectError(reply, 'message_too_large');
      expect(reply.payload.maxSize).toBe(2048);
      a.heartbeatOk();
    },
    configWith({ maxMessageSize: 2048 }),
  );
});

describe('discover patterns cannot be turned into an attack (§5)', () => {
  bothWays('a pathological glob against long addresses gives the correct answer', (sc) => {
    const a = sc.connect('@(a)');
    const long = 'a'.repeat(250);
    const addresses = [`@(${long})`, `@(${long}b)`, `@(${'a'.repeat(20)}b${'a'.repeat(20)})`, '@(ab)', '@(aaaaaaaaaab)'];
    for (const address of addresses) a.ask('hub:register', { actorAddress: address, capabilities: [] });
    const reply = a.ask('hub:discover', { pattern: '*a*a*a*a*a*a*a*a*a*a*b' });
    expect(reply.type).toBe('hub:discovered');
    const found = reply.payload.actors.map((x: Msg) => x.address).sort();
    // At least ten a's, then a final b.
    expect(found).toEqual(['@(aaaaaaaaaab)', `@(${long}b)`].sort());
    const inner = a.ask('hub:discover', { pattern: '*a*a*a*a*a*a*a*a*a*a*b*' });
    expect(inner.payload.actors.map((x: Msg) => x.address).sort()).toEqual(
      [`@(${'a'.repeat(20)}b${'a'.repeat(20)})`, '@(aaaaaaaaaab)', `@(${long}b)`].sort(),
    );
    const many = a.ask('hub:discover', { pattern: `${'*a'.repeat(125)}*` });
    expect(many.payload.actors.map((x: Msg) => x.address).sort()).toEqual([`@(${long})`, `@(${long}b)`].sort());
    a.heartbeatOk();
  });

  bothWays('regular-expression syntax in a pattern is literal', (sc) => {
    const a = sc.connect('@(a)');
    for (const address of ['@(x.y)', '@(xzy)', '@(a+b)', '@(aab)', '@(q?)', '@([z])']) {
      a.ask('hub:register', { actorAddress: address, capabilities: [] });
    }
    const find = (pattern: string) =>
      a.ask('hub:discover', { pattern }).payload.actors.map((x: Msg) => x.address).sort();
    expect(find('x.y')).toEqual(['@(x.y)']);
    expect(find('a+b')).toEqual(['@(a+b)']);
    expect(find('q?')).toEqual(['@(q?)']);
    expect(find('[z]')).toEqual(['@([z])']);
    expect(find('(.*)')).toEqual([]);
  });
});
