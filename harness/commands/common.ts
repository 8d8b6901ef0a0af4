import fc from 'fast-check';
import type { BuildOptions } from '../../src/protocol/build';
import type { Requests, RequestType } from '../../src/protocol/messages';
import { violate } from '../invariants';
import { ADDRESSES, IDENTITIES, SLOTS, inForce, learnHeartbeat, openClient, type ClientModel, type HubModel } from '../model';
import type { Frame, FuzzHub, Learn, StepResult } from '../system';

/**
 * Shared pieces of the model-based commands. Each command lives in its own
 * file with `check` (may it run in this model state?), `run` (do it through
 * the FuzzHub, which records the step, hands the result to the command's
 * `learn` callback so the command updates the model from its own reply, and
 * then checks the invariants; afterwards the command checks what the model
 * can predict) and `toString` (how fast-check prints it).
 */
export abstract class HubCommand implements fc.AsyncCommand<HubModel, FuzzHub, false> {
  abstract check(m: Readonly<HubModel>): boolean;
  abstract run(m: HubModel, r: FuzzHub): Promise<void>;
  abstract toString(): string;
}

export type Pattern = 'ask' | 'tell';

/**
 * How a command prints: `name(part, part, ...)`. Parts that are empty
 * strings, false, null or undefined are left out (so optional settings
 * only show when set); numbers always show, 0 included.
 */
export const describe = (name: string, ...parts: (string | number | false | null | undefined)[]): string =>
  `${name}(${parts.filter((p) => typeof p === 'number' || (typeof p === 'string' && p !== '')).join(', ')})`;

/** The `tell` mark commands print; asks are the default and print nothing. */
export const tellMark = (pattern: Pattern): string => (pattern === 'tell' ? 'tell' : '');

/**
 * A command that acts through the socket in `slot` and so may only run while
 * that socket is open; `pattern` is the messaging pattern of its request.
 */
export abstract class ClientCommand extends HubCommand {
  constructor(
    readonly slot: number,
    readonly pattern: Pattern,
  ) {
    super();
  }

  check(m: Readonly<HubModel>): boolean {
    return openClient(m, this.slot) !== null;
  }

  /** The open client in `slot`; only valid once `check` passed. */
  protected client(m: Readonly<HubModel>): ClientModel {
    return openClient(m, this.slot)!;
  }

  /** Sends `type` from `c` with this command's pattern. */
  protected request<K extends RequestType>(
    m: HubModel,
    r: FuzzHub,
    c: ClientModel,
    type: K,
    payload: Requests[K],
    opts: Partial<BuildOptions> = {},
    learn?: Learn,
  ): Promise<StepResult> {
    return r.request(m, c, type, payload, { ...opts, pattern: this.pattern }, learn);
  }

  /**
   * Sends as `request` does and asserts the reply, if any, is one of
   * `expected` (see expectReplyType; the label is the type without `hub:`).
   */
  protected async exchange<K extends RequestType>(
    m: HubModel,
    r: FuzzHub,
    c: ClientModel,
    type: K,
    payload: Requests[K],
    expected: string[],
    opts: Partial<BuildOptions> = {},
    learn?: Learn,
  ): Promise<{ res: StepResult; reply: Frame | undefined }> {
    const res = await this.request(m, r, c, type, payload, opts, learn);
    return { res, reply: expectReplyType(res, type.replace(/^hub:/, ''), expected) };
  }
}

/** Slots 0 and 1 are busier, so two-party exchanges are common. */
export const slotArb: fc.Arbitrary<number> = fc.oneof(
  { arbitrary: fc.integer({ min: 0, max: 1 }), weight: 3 },
  { arbitrary: fc.integer({ min: 0, max: SLOTS - 1 }), weight: 2 },
);

export const patternArb: fc.Arbitrary<Pattern> = fc.oneof(
  { arbitrary: fc.constant('ask' as const), weight: 4 },
  { arbitrary: fc.constant('tell' as const), weight: 1 },
);

export const addressArb = fc.constantFrom(...ADDRESSES, '@(nobody)');

/**
 * An address picked among those live clients hold right now (so messages
 * and takeovers actually meet someone), or a fixed one from the pool.
 */
export type Target = { live: number } | { fixed: string };
export const targetArb: fc.Arbitrary<Target> = fc.oneof(
  { arbitrary: fc.nat(11).map((live) => ({ live })), weight: 3 },
  { arbitrary: addressArb.map((fixed) => ({ fixed })), weight: 1 },
);

export const liveAddresses = (m: Readonly<HubModel>, except?: ClientModel): string[] => {
  const found = new Set<string>();
  for (const c of m.slots) {
    if (!c || c.phase !== 'live' || c === except) continue;
    if (c.identity) found.add(c.identity);
    for (const [address, reg] of c.registrations) if (inForce(reg, m.now)) found.add(address);
  }
  return [...found].sort();
};

export const resolveTarget = (m: Readonly<HubModel>, t: Target, except?: ClientModel): string => {
  if ('fixed' in t) return t.fixed;
  const pool = liveAddresses(m, except);
  return pool.length > 0 ? pool[t.live % pool.length]! : ADDRESSES[t.live % ADDRESSES.length]!;
};

export const showTarget = (t: Target): string => ('fixed' in t ? t.fixed : `live#${t.live}`);
export const identityArb = fc.constantFrom(...IDENTITIES);

/** Who a message claims to be from: the session identity, one of its registrations, or someone else. */
export type Sender = 'self' | 'held' | { spoof: string };
export const senderArb: fc.Arbitrary<Sender> = fc.oneof(
  { arbitrary: fc.constant('self' as const), weight: 6 },
  { arbitrary: fc.constant('held' as const), weight: 3 },
  { arbitrary: fc.constantFrom(...ADDRESSES).map((spoof) => ({ spoof })), weight: 1 },
);

/** The identity a client in `slot` uses before it is connected. */
export const defaultIdentity = (slot: number): string => IDENTITIES[slot % IDENTITIES.length]!;

export const fromOf = (c: ClientModel, sender: Sender): string => {
  if (typeof sender === 'object') return sender.spoof;
  const self = c.identity ?? defaultIdentity(c.slot);
  if (sender === 'held') {
    const held = [...c.registrations.keys()].sort();
    return held[0] ?? self;
  }
  return self;
};

export const showSender = (s: Sender): string => (typeof s === 'object' ? `as ${s.spoof}` : s === 'held' ? 'as held' : '');

/** The one correlated reply, if the request was answered. */
export const replyOf = (res: StepResult): Frame | undefined => res.replies[0];

/** Replies that say the request was not processed for reasons the model does not track. */
export const NOT_PROCESSED = new Set(['hub:rate_limited', 'hub:message_too_large']);

/** Asserts what the model can predict: the reply to a request is one of `types` (or a refusal the model cannot foresee). */
export const expectReplyType = (res: StepResult, what: string, types: string[]): Frame | undefined => {
  const reply = replyOf(res);
  if (!reply) return undefined;
  if (!types.includes(reply.type) && !NOT_PROCESSED.has(reply.type)) {
    violate('model', `${what}: expected ${types.join(' or ')}, got ${JSON.stringify(reply)}`);
  }
  return reply;
};

/** The frames one socket received in a step, in order. */
export const framesOn = (res: StepResult, socket: string): Frame[] =>
  res.frames.filter((f) => f.socket === socket).map((f) => f.frame);

/** The lesson of a hub:pause (pause.ts, and flood.ts before it floods): the client is paused once the hub took it. */
export const learnPause =
  (c: ClientModel): Learn =>
  ({ replies: [reply], tellProcessed }) => {
    if (reply?.type === 'hub:paused' || tellProcessed) c.paused = true;
  };

/** The lesson of a hub:heartbeat (heartbeat.ts, and the well-formed oddities of bad-frame.ts): renewOnHeartbeat registrations start again. */
export const learnHeartbeatReply =
  (m: HubModel, c: ClientModel): Learn =>
  ({ replies: [reply], tellProcessed }) => {
    if (reply?.type === 'hub:heartbeat_ack' || tellProcessed) learnHeartbeat(m, c);
  };

/** The lesson of a hub:resume (resume.ts, and the settle steps at the end of a run). */
export const learnResume =
  (c: ClientModel): Learn =>
  ({ replies: [reply], tellProcessed }) => {
    if (reply?.type === 'hub:resumed') c.paused = reply.payload.paused === true;
    else if (tellProcessed) c.paused = false;
  };
