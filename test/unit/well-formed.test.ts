import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { mintToken, verifyToken, type MintOptions } from '../../src/auth/jwt';
import { flatFrame, frameFor } from '../../src/core/flat';
import { illFormedIssue, isWellFormed, loneSurrogatePath, toWellFormed } from '../../src/protocol/strings';
import { Scenario, type Msg, type Peer } from './core-harness';

/**
 * Issue 12, defect 1: a lone surrogate was accepted, stored and echoed, and
 * a forwarded frame then held bytes that are not UTF-8 (ED A0 80). Every
 * string the hub stores or echoes must be well-formed, and no frame may ever
 * fail a strict UTF-8 decoder.
 */

/**
 * The bytes a runtime puts on the wire for a JS string: each code point as
 * UTF-8, and a lone surrogate as its three-byte WTF-8 form (ED A0 80 for
 * U+D800), which is what workerd sent in the report. Valid UTF-8 exactly
 * when the string is well-formed.
 */
const wireBytes = (text: string): Uint8Array => {
  const out: number[] = [];
  for (let i = 0; i < text.length; i++) {
    let cp = text.charCodeAt(i);
    const next = text.charCodeAt(i + 1);
    if (cp >= 0xd800 && cp <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
      cp = 0x10000 + ((cp - 0xd800) << 10) + (next - 0xdc00);
      i++;
    }
    if (cp < 0x80) out.push(cp);
    else if (cp < 0x800) out.push(0xc0 | (cp >> 6), 0x80 | (cp & 63));
    else if (cp < 0x10000) out.push(0xe0 | (cp >> 12), 0x80 | ((cp >> 6) & 63), 0x80 | (cp & 63));
    else out.push(0xf0 | (cp >> 18), 0x80 | ((cp >> 12) & 63), 0x80 | ((cp >> 6) & 63), 0x80 | (cp & 63));
  }
  return new Uint8Array(out);
};

const strict = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });

/** Every frame any socket received decodes strictly, as a ws client or a browser decodes it. */
const expectWireDecodes = (sc: Scenario): void => {
  for (const socket of sc.fake.sockets.values()) {
    for (const frame of socket.received) {
      expect(() => strict.decode(wireBytes(frame)), frame.slice(0, 200)).not.toThrow();
    }
  }
};

const lone = fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c));
/** Arbitrary full-Unicode text with lone surrogates mixed in; never empty, no ")" or "*" (address and glob syntax). */
const text = fc
  .array(fc.oneof(fc.string({ unit: 'binary', minLength: 1, maxLength: 6 }), lone), { minLength: 1, maxLength: 4 })
  .map((parts) => parts.join('').replace(/[)*]/g, 'x').slice(0, 60));

/**
 * How the frame goes on the wire: JSON.stringify's escape form ("\ud800",
 * which JSON.parse turns back into a lone surrogate) or the raw character.
 */
type Form = 'escape' | 'raw';
const rawForm = (json: string): string =>
  json.replace(/(?<!\\)((?:\\\\)*)\\u(d[89a-f][0-9a-f]{2})/g, (_m, slashes: string, hex: string) => slashes + String.fromCharCode(parseInt(hex, 16)));

const ask = (peer: Peer, form: Form, type: Parameters<Peer['build']>[0], payload: unknown, metadata: Record<string, unknown> = {}): Msg => {
  const envelope = peer.build(type, payload as never, { metadata, pattern: 'ask' });
  const json = JSON.stringify(envelope);
  peer.raw(form === 'raw' ? rawForm(json) : json);
  return peer.replyTo(envelope.id);
};

const expectRefused = (reply: Msg): void => {
  expect(reply.type).toBe('hub:error');
  expect(reply.payload.code).toBe('invalid_message');
  const issues = reply.payload.details.issues as { path: string }[];
  expect(issues.length).toBeGreaterThan(0);
  expect(issues.every((i) => typeof i.path === 'string' && i.path.length > 0)).toBe(true);
};

describe('strings are well-formed or refused (issue 12 §1)', () => {
  it('register, discover, send and publish: ill-formed strings get invalid_message, the rest round-trips, and every frame is UTF-8', () => {
    fc.assert(
      fc.property(text, fc.constantFrom<Form>('escape', 'raw'), (s, form) => {
        const sc = new Scenario('awake');
        const alice = sc.connect('@(wf/alice)');
        const bob = sc.connect('@(wf/bob)');
        bob.ask('hub:register', { actorAddress: '@(wf/bob)', capabilities: [] });
        bob.ask('hub:subscribe', { topic: 'wf.t' });
        const good = isWellFormed(s);
        const address = `@(wf/${s})`;

        const registered = ask(alice, form, 'hub:register', { actorAddress: address, capabilities: [s], metadata: { [s]: s } });
        if (good) expect(registered.type).toBe('hub:registered');
        else expectRefused(registered);

        const found = ask(alice, form, 'hub:discover', { pattern: address });
        if (good) {
          expect(found.payload.actors).toEqual([{ address, capabilities: [s], metadata: { [s]: s } }]);
        } else expectRefused(found);
        const listed = ask(alice, 'escape', 'hub:discover', { pattern: 'wf/*' });
        expect(listed.payload.actors.map((a: Msg) => a.address).sort()).toEqual(good ? [address, '@(wf/bob)'].sort() : ['@(wf/bob)']);

        // The reported defect: the holder of the address receives a frame addressed to it.
        const data = { [s]: s, list: [s] };
        bob.inbox();
        alice.inbox();
        const sent = ask(bob, form, 'hub:send', { to: address, type: 'wf.msg', data }, { [s]: s });
        const toAlice = alice.inbox().filter((m) => m.type === 'wf.msg');
        if (good) {
          expect(sent.payload.status).toBe('delivered');
          expect(toAlice).toHaveLength(1);
          expect(toAlice[0]!.to).toBe(address);
          expect(toAlice[0]!.payload).toEqual(data);
          expect(toAlice[0]!.metadata[s]).toBe(s);
        } else {
          expectRefused(sent);
          expect(toAlice).toHaveLength(0);
        }

        const published = ask(alice, form, 'hub:publish', { topic: 'wf.t', type: s, data: s }, { [s]: s });
        const toBob = bob.inbox().filter((m) => m.metadata?.publication === true);
        if (good) {
          expect(published.type).toBe('hub:published');
          expect(toBob.map((m) => [m.type, m.payload])).toEqual([[s, s]]);
        } else {
          expectRefused(published);
          expect(toBob).toHaveLength(0);
        }

        expectWireDecodes(sc);
        alice.heartbeatOk();
        bob.heartbeatOk();
      }),
      { numRuns: 150, seed: 0x0012_0001 },
    );
  }, 60_000);

  it('an ill-formed envelope field is refused at its path, and the reply never echoes it', () => {
    const sc = new Scenario('awake');
    const a = sc.connect('@(wf/a)');
    for (const [field, value, path] of [
      ['id', 'id-\ud800', 'id'],
      ['from', '@(wf/\udc00)', 'from'],
      ['type', 'hub:\ud800', 'type'],
      ['correlationId', '\ud800', 'correlationId'],
      ['metadata', { ['k\ud800']: 1 }, 'metadata.k\ufffd'],
      ['metadata', { deep: [{ x: 'v\udfff' }] }, 'metadata.deep.0.x'],
    ] as const) {
      const msg: Record<string, unknown> = { ...a.build('hub:heartbeat', null), [field]: value };
      a.raw(JSON.stringify(msg));
      const [reply] = a.inbox();
      expectRefused(reply!);
      expect(reply!.payload.details.issues[0].path).toBe(path);
      // An id that could be echoed is; an ill-formed one is not.
      expect(reply!.correlationId).toBe(field === 'id' ? null : msg.id);
    }
    expectWireDecodes(sc);
    a.heartbeatOk();
  });

  it('a connect whose from is ill-formed is refused and the session can still connect', () => {
    const sc = new Scenario('awake');
    const a = sc.open('@(wf/\ud800)');
    const reply = a.ask('hub:connect', null, { metadata: { protocolVersion: '0.1.0' } });
    expectRefused(reply);
    a.address = '@(wf/ok)';
    expect(a.ask('hub:connect', null, { metadata: { protocolVersion: '0.1.0' } }).type).toBe('hub:connected');
    expectWireDecodes(sc);
  });

  it('a binary frame with WTF-8 bytes decodes to U+FFFD and is accepted as such', () => {
    const sc = new Scenario('awake');
    const a = sc.connect('@(wf/a)');
    const json = JSON.stringify(a.build('hub:register', { actorAddress: '@(wf/X)', capabilities: [] }));
    const bytes = wireBytes(json.replace('X', '\ud800'));
    a.raw(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer);
    const [reply] = a.inbox();
    expect(reply!.type).toBe('hub:registered');
    expect(reply!.payload.actorAddress).toBe('@(wf/\ufffd\ufffd\ufffd)');
    expectWireDecodes(sc);
  });
});

describe('token claims are well-formed or refused', () => {
  it.each([
    ['actorId', { actorId: 'a\ud800' }],
    ['sub', { actorId: 'a', sub: 's\udc00' }],
    ['capabilities', { actorId: 'a', capabilities: ['c\ud800'] }],
    ['permissions', { actorId: 'a', permissions: { send: ['x\ud800'] } }],
  ] as [string, MintOptions][])('a lone surrogate in %s makes the token invalid_claims', async (_claim, opts) => {
    const now = Date.now();
    const token = await mintToken('s3cret', { ...opts, now });
    expect(await verifyToken(token, 's3cret', now)).toEqual({ ok: false, reason: 'invalid_claims' });
  });
});

describe('the frame builders cannot emit ill-formed text', () => {
  it('a flat frame is well-formed whatever strings it is given', () => {
    fc.assert(
      fc.property(text, text, (a, b) => {
        const flat = flatFrame({ id: a, from: `@(${a})`, type: b, payload: { [a]: b }, timestamp: 1, ttl: null, metadataJson: JSON.stringify({ [b]: a }) });
        const frame = frameFor(flat, `@(${b})`);
        expect(isWellFormed(frame)).toBe(true);
        expect(JSON.parse(frame).to).toBe(`@(${b})`);
      }),
      { numRuns: 300, seed: 0x0012_0002 },
    );
  });

  it('the raw-text pre-check never misses a lone surrogate that JSON.parse would produce', () => {
    fc.assert(
      fc.property(fc.jsonValue(), text, fc.constantFrom<Form>('escape', 'raw'), (value, s, form) => {
        const json = JSON.stringify({ value, s, [s]: [s] });
        const textForm = form === 'raw' ? rawForm(json) : json;
        const parsed: unknown = JSON.parse(textForm);
        const exact = loneSurrogatePath(parsed);
        expect(illFormedIssue(textForm, parsed)?.path ?? null).toBe(exact === null ? null : toWellFormed(exact));
        expect(exact === null).toBe(isWellFormed(s));
      }),
      { numRuns: 300, seed: 0x0012_0003 },
    );
  });

  it('a 10 000-level nesting is walked without overflowing the stack', () => {
    const deep = `${'['.repeat(10_000)}"\\ud800"${']'.repeat(10_000)}`;
    const issue = illFormedIssue(deep, JSON.parse(deep));
    expect(issue?.path.split('.')).toHaveLength(10_000);
  });
});
