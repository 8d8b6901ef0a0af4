import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import { FakeHubObject, configWith, type FakeSocket } from '../../harness/fake-object';
import { REFUSAL_MARKS, rateLimitedFrame, rateLimitedSpec, refusableId } from '../../src/core/rate-gate';
import { hubFrameText } from '../../src/core/json-text';
import { HUB_ADDRESS } from '../../src/protocol/envelope';
import { errorReply } from '../../src/protocol/errors';
import { buildRequest } from '../../src/protocol/build';

/**
 * The cheap refusal (issue 11): a frame from a session with an empty bucket
 * is answered hub:rate_limited before JSON.parse, correlated with an id read
 * from the text, and must be answered exactly as the parsing path would.
 */

const connect = (hub: FakeHubObject, identity: string): FakeSocket => {
  const s = hub.open();
  hub.send(s, JSON.stringify(buildRequest('hub:connect', null, { from: identity, metadata: { protocolVersion: '0.1.0' } })));
  return s;
};

/** A session of the shipped limits (burst 20) with its bucket emptied. */
const exhausted = () => {
  const hub = new FakeHubObject();
  const a = connect(hub, '@(a)');
  for (let i = 0; i < 25; i++) hub.send(a, JSON.stringify(buildRequest('hub:list_actors', {}, { from: '@(a)', timestamp: hub.clock.now() })));
  return { hub, a };
};

const last = (hub: FakeHubObject, s: FakeSocket) => hub.messages(s).at(-1)!;

describe('refusableId', () => {
  it('reads the leading id of frames it can be sure about', () => {
    expect(refusableId('{"id":"m1","type":"hub:send","payload":{}}')).toBe('m1');
    expect(refusableId('{"id":"m1"')).toBe('m1'); // not JSON: the sniff the parsing path uses reads the same id
    // An id that reads like an exempt type is only an id: the type decides, and here it is not exempt.
    expect(refusableId('{"id":"hub:connect","type":"hub:send"}')).toBe('hub:connect');
  });

  it('declines anything the parsing path could read differently', () => {
    expect(refusableId('{ "id":"m1","type":"hub:send"}')).toBeUndefined(); // not the leading key
    expect(refusableId('{"type":"hub:send","id":"m1"}')).toBeUndefined();
    expect(refusableId('{"id":"m\\"1","type":"x"}')).toBeUndefined(); // escapes
    expect(refusableId('{"id":"m1","type":"x","payload":{"t":"\\u0041"}}')).toBeUndefined();
    expect(refusableId('{"id":"m1","type":"x","id":"m2"}')).toBeUndefined(); // duplicate key: JSON.parse keeps the last
    expect(refusableId('{"id":"m1","type":"hub:heartbeat"}')).toBeUndefined(); // possibly exempt
    expect(refusableId('{"id":"m1","type":"x","payload":{"note":"see hub:disconnect"}}')).toBe('m1'); // only the quoted literal matters
    expect(refusableId('{"id":"m1","type":"x","payload":{"t":"hub:disconnect"}}')).toBeUndefined();
    expect(refusableId(`{"id":"${'x'.repeat(257)}","type":"x"}`)).toBeUndefined(); // longer than the sniff reads
    expect(refusableId('{"id":"","type":"x"}')).toBeUndefined();
  });
});

describe('refusal before parsing', () => {
  it('answers a refused frame without JSON.parse, and as the parsing path would', () => {
    const { hub, a } = exhausted();
    const frame = buildRequest('hub:list_actors', {}, { from: '@(a)', timestamp: hub.clock.now() });
    const parse = vi.spyOn(JSON, 'parse');
    let parsedByHub = 0;
    try {
      hub.send(a, JSON.stringify(frame));
      // The fake object itself never parses; only the core could have.
      parsedByHub = parse.mock.calls.length;
    } finally {
      parse.mockRestore();
    }
    expect(parsedByHub).toBe(0);
    const reply = last(hub, a);
    expect(reply).toMatchObject({ type: 'hub:rate_limited', correlationId: frame.id, to: '@(a)', payload: { code: 'rate_limited' } });
  });

  it('exempt frames still pass while the bucket is empty', () => {
    const { hub, a } = exhausted();
    const hb = buildRequest('hub:heartbeat', null, { from: '@(a)', timestamp: hub.clock.now() });
    hub.send(a, JSON.stringify(hb));
    expect(last(hub, a)).toMatchObject({ type: 'hub:heartbeat_ack', correlationId: hb.id });
  });

  it('logs the first refusal of a run, not every refused frame', () => {
    const hub = new FakeHubObject(configWith({ logLevel: 'debug' }));
    const a = connect(hub, '@(a)');
    for (let i = 0; i < 60; i++) hub.send(a, JSON.stringify(buildRequest('hub:list_actors', {}, { from: '@(a)', timestamp: hub.clock.now() })));
    const refused = hub.logs.filter((l) => l.event === 'request.refused' && (l as { code?: string }).code === 'rate_limited');
    expect(hub.messages(a).filter((m) => m.type === 'hub:rate_limited')).toHaveLength(40);
    expect(refused).toHaveLength(1);
  });

  it('correlates every refusal with the id the frame carries, whatever its shape (property)', () => {
    const idArb = fc.oneof(fc.string({ minLength: 1, maxLength: 20 }), fc.constant('x'.repeat(300)), fc.constant('a"b'), fc.constant('\\u0041'), fc.constant('hub:heartbeat'));
    const frameArb = fc.record({
      id: idArb,
      lead: fc.boolean(),
      type: fc.constantFrom('hub:list_actors', 'hub:send', 'hub:discover', 'nonsense'),
      nested: fc.constantFrom(null, { id: 'inner' }, { type: 'hub:heartbeat' }, { text: 'hub:connect' }),
    });
    fc.assert(
      fc.property(frameArb, ({ id, lead, type, nested }) => {
        const { hub, a } = exhausted();
        const body = { from: '@(a)', type, payload: nested, timestamp: hub.clock.now() };
        const text = JSON.stringify(lead ? { id, ...body } : { ...body, id });
        hub.send(a, text);
        const reply = last(hub, a);
        expect(reply.type).toBe('hub:rate_limited');
        expect(reply.correlationId).toBe(id);
      }),
      { seed: 5, numRuns: 200 },
    );
  });
});

describe('the prepared rate_limited frame', () => {
  it('is byte for byte what hubFrameText() writes around errorReply(), for any settings, values and recipient', () => {
    // Addresses and ids that need escaping too: the frame quotes them as the general writer does.
    const text = fc.oneof(fc.string({ maxLength: 12 }), fc.constantFrom('@(a)', 'm"1', 'x\\y', '\u2028', 'MARK'));
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 1_000_000 }),
        fc.integer({ min: 1, max: 1_000_000 }),
        fc.nat(10_000_000),
        text,
        text,
        fc.option(text),
        fc.nat(4_000_000_000_000),
        (perSecond, burst, retryAfter, id, to, correlationId, now) => {
          const settings = { perSecond, burst };
          const prepared = rateLimitedFrame(settings, retryAfter, id, to, correlationId, now);
          const reply = errorReply(rateLimitedSpec(settings, retryAfter));
          expect(prepared.frame).toBe(hubFrameText(id, HUB_ADDRESS, to, reply.type, reply.payload, correlationId, now, {}));
          expect(prepared.code).toBe('rate_limited');
          expect(prepared.retryable).toBe(reply.payload.retryable);
          expect(JSON.parse(prepared.frame).payload).toEqual(reply.payload);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('stays exact for limits that print like one of its markers (the general writer takes over)', () => {
    const M = REFUSAL_MARKS;
    for (const settings of [{ perSecond: M.retryAfter, burst: 20 }, { perSecond: 10, burst: M.timestamp }, { perSecond: M.timestamp, burst: M.retryAfter }]) {
      for (const retryAfter of [1, M.retryAfter]) {
        const prepared = rateLimitedFrame(settings, retryAfter, M.id, '@(a)', 'r1', M.timestamp);
        const reply = errorReply(rateLimitedSpec(settings, retryAfter));
        expect(prepared.frame).toBe(hubFrameText(M.id, HUB_ADDRESS, '@(a)', reply.type, reply.payload, 'r1', M.timestamp, {}));
      }
    }
  });

  it('a refused frame carries it: the same reply the parsing path writes', () => {
    const { hub, a } = exhausted();
    const refused = last(hub, a);
    expect(refused.type).toBe('hub:rate_limited');
    const retryAfter = (refused.payload as { retryAfter: number }).retryAfter;
    expect(refused.payload).toEqual(errorReply(rateLimitedSpec({ perSecond: 10, burst: 20 }, retryAfter)).payload);
  });
});
