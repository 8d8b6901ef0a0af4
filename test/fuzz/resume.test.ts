import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FakeHubObject, configWith, type FakeSocket } from '../../harness/fake-object';
import { RecentIds } from '../../src/client/recent-ids';
import { buildRequest } from '../../src/protocol/build';
import { PROTOCOL_VERSION } from '../../src/protocol/envelope';

/**
 * Session resume under fuzz (issue 14): one sender keeps sending tells and
 * asks to a receiver and publishing to its topic while the receiver's socket
 * drops (abnormal codes) or is taken over by a new socket while the old one
 * is still open, the object is evicted, time passes (sometimes past
 * the grace period) and the receiver reconnects with its resume token the
 * way the client library does (rebuilding when the hub says resumed: false).
 *
 * Invariants, checked after every run:
 * - nothing acknowledged is lost: every ask answered `delivered` reached a
 *   socket of the receiver;
 * - nothing a surviving session was sent is lost: every message sent while
 *   the receiver's session was live, or suspended and later resumed, arrives;
 * - no duplicate delivery: once the receiver drops copies by id and to (as
 *   the client library does), each message arrives once, and no socket ever
 *   gets the same message twice;
 * - per-sender order across resume: what arrives is in the order sent;
 * - every ask gets exactly one answer: delivered, resume_expired or
 *   unknown_actor (the session was gone when it was sent).
 *
 * The main protocol model (harness/model.ts) runs with resume off; this
 * property is where resume is fuzzed.
 */

const GRACE = 2_000;
const R = '@(r)';
const S = '@(s)';

interface Sent {
  seq: number;
  id: string;
  kind: 'tell' | 'ask' | 'publish';
  /** The receiver's session epoch when sent; null when it had none (gone or not yet rebuilt). */
  epoch: number | null;
  /** The receiver's suspension (a drop) this was sent during, waiting in the mailbox; null when it was live. */
  suspension: number | null;
}

class World {
  readonly fake = new FakeHubObject(
    configWith({
      resumeGraceMs: GRACE,
      mailboxLimit: 10_000,
      rateLimitBurst: 100_000,
      rateLimitPerSecond: 100_000,
      heartbeatTimeoutMs: 100_000_000,
      defaultActorTtlSeconds: 100_000,
      maxActorTtlSeconds: 100_000,
    }),
  );
  private n = 0;
  readonly sender: FakeSocket;
  receivers: FakeSocket[] = [];
  token: string | null = null;
  /** Receiver session: live, suspended (dropped, within grace) or gone (grace ended). */
  state: 'live' | 'suspended' | 'gone' = 'live';
  droppedAt = 0;
  epoch = 0;
  /** Suspensions counted by drop; those whose grace ended before a resume. */
  suspension = 0;
  readonly expired = new Set<number>();
  readonly sent: Sent[] = [];
  seq = 0;

  constructor() {
    this.sender = this.fake.open();
    this.frame(this.sender, 'hub:connect', null, S, { metadata: { protocolVersion: PROTOCOL_VERSION } });
    this.connectReceiver(null);
  }

  private frame(socket: FakeSocket, type: string, payload: unknown, from: string, opts: Record<string, unknown> = {}): string {
    const id = `m${++this.n}`;
    void this.fake.send(socket, JSON.stringify(buildRequest(type as never, payload as never, { id, from, timestamp: this.fake.clock.now(), ...opts })));
    return id;
  }

  get receiver(): FakeSocket {
    return this.receivers[this.receivers.length - 1]!;
  }

  /** A new socket for the receiver; with a token it may resume, else (or when refused) it rebuilds. */
  connectReceiver(token: string | null): boolean {
    const socket = this.fake.open();
    this.receivers.push(socket);
    const id = this.frame(socket, 'hub:connect', token ? { resumeToken: token } : null, R, { metadata: { protocolVersion: PROTOCOL_VERSION } });
    const reply = this.fake.messages(socket).find((m) => m.correlationId === id)!;
    expect(reply.type).toBe('hub:connected');
    this.token = reply.payload.resumeToken as string;
    const resumed = reply.payload.resumed === true;
    if (!resumed) {
      this.epoch++;
      this.frame(socket, 'hub:register', { actorAddress: R, capabilities: [] }, R);
      this.frame(socket, 'hub:subscribe', { topic: 'news' }, R);
    }
    this.state = 'live';
    return resumed;
  }

  send(kind: Sent['kind']): void {
    const seq = ++this.seq;
    const epoch = this.state === 'gone' ? null : this.epoch;
    const id =
      kind === 'publish'
        ? this.frame(this.sender, 'hub:publish', { topic: 'news', type: 'msg', data: seq }, S, { pattern: 'tell' })
        : this.frame(this.sender, 'hub:send', { to: R, type: 'msg', data: seq }, S, { pattern: kind });
    this.sent.push({ seq, id, kind, epoch, suspension: this.state === 'suspended' ? this.suspension : null });
  }

  drop(code: number): void {
    if (this.state !== 'live') return;
    this.fake.clientClose(this.receiver, code);
    this.state = 'suspended';
    this.suspension++;
    this.droppedAt = this.fake.clock.now();
  }

  advance(ms: number): void {
    this.fake.advance(ms);
    if (this.state === 'suspended' && this.fake.clock.now() >= this.droppedAt + GRACE) {
      this.state = 'gone';
      this.expired.add(this.suspension);
    }
  }
}

type Cmd =
  | { kind: 'tell' | 'ask' | 'publish' }
  | { kind: 'drop'; code: number }
  | { kind: 'resume' }
  | { kind: 'takeover' }
  | { kind: 'hibernate' }
  | { kind: 'advance'; ms: number };

const cmdArb: fc.Arbitrary<Cmd> = fc.oneof(
  { arbitrary: fc.constantFrom<Cmd>({ kind: 'tell' }, { kind: 'ask' }, { kind: 'publish' }), weight: 8 },
  { arbitrary: fc.constantFrom(1006, 3000, 4000, 4408).map((code): Cmd => ({ kind: 'drop', code })), weight: 2 },
  { arbitrary: fc.constant<Cmd>({ kind: 'resume' }), weight: 2 },
  // The client reconnects while the hub still holds its old socket open (a silent drop the hub has not noticed).
  { arbitrary: fc.constant<Cmd>({ kind: 'takeover' }), weight: 2 },
  { arbitrary: fc.constant<Cmd>({ kind: 'hibernate' }), weight: 2 },
  { arbitrary: fc.constantFrom(100, 900, 2_500).map((ms): Cmd => ({ kind: 'advance', ms })), weight: 1 },
);

const run = (cmds: Cmd[]): void => {
  const w = new World();
  for (const c of cmds) {
    if (c.kind === 'tell' || c.kind === 'ask' || c.kind === 'publish') w.send(c.kind);
    else if (c.kind === 'drop') w.drop(c.code);
    else if (c.kind === 'resume') {
      if (w.state !== 'live') w.connectReceiver(w.token);
    } else if (c.kind === 'takeover') {
      // A live session's current token always takes it over.
      if (w.state === 'live') expect(w.connectReceiver(w.token), 'a takeover of a live session did not resume').toBe(true);
    } else if (c.kind === 'hibernate') w.fake.hibernate();
    else if (c.kind === 'advance') w.advance(c.ms);
  }
  // The client comes back at the end (within grace, or as a new session).
  if (w.state !== 'live') w.connectReceiver(w.token);

  const payloadOf = (m: Record<string, any>) => m.payload as number;
  const perSocket = w.receivers.map((s) => w.fake.messages(s).filter((m) => m.type === 'msg'));
  // No socket ever gets one message twice.
  for (const frames of perSocket) {
    const keys = frames.map((m) => `${m.id}\n${m.to}`);
    expect(new Set(keys).size, 'a socket received a message twice').toBe(keys.length);
  }
  // A socket taken over gets nothing after its session_resumed notice.
  for (const s of w.receivers) {
    const frames = w.fake.messages(s);
    const notice = frames.findIndex((m) => m.type === 'hub:disconnect' && m.payload?.reason === 'session_resumed');
    if (notice >= 0) expect(frames.slice(notice + 1), 'frames after the takeover notice').toEqual([]);
  }
  // What the application sees once copies are dropped by id and to, as the client library does.
  const recent = new RecentIds();
  const seen = perSocket.flat().filter((m) => !recent.repeat(m.id, m.to)).map(payloadOf);
  expect(new Set(seen).size, 'duplicate delivery after dedup').toBe(seen.length);
  // Per-sender order across resume.
  expect(seen, 'order').toEqual([...seen].sort((a, b) => a - b));

  const got = new Set(seen);
  const senderFrames = w.fake.messages(w.sender);
  for (const s of w.sent) {
    const answers = senderFrames.filter((m) => m.correlationId === s.id);
    // A message reaches the receiver unless its session was gone, or it waited in a mailbox whose grace ended.
    const lost = s.epoch === null || (s.suspension !== null && w.expired.has(s.suspension));
    if (s.kind === 'ask') {
      expect(answers, `answers to ask ${s.seq}`).toHaveLength(1);
      const answer = answers[0]!;
      if (answer.type === 'hub:delivery_ack') {
        expect(answer.payload.status).toBe('delivered');
        expect(got.has(s.seq), `acknowledged ask ${s.seq} lost`).toBe(true);
      } else {
        expect(lost, `ask ${s.seq} refused with ${answer.payload.code} while its target was reachable`).toBe(true);
        expect(answer.payload.code).toBe(s.epoch === null ? 'unknown_actor' : 'resume_expired');
      }
    }
    if (!lost) expect(got.has(s.seq), `${s.kind} ${s.seq} (epoch ${s.epoch}) lost`).toBe(true);
    // A message that waited for a session that never came back is not delivered late to a new one.
    if (lost && s.epoch !== null) expect(got.has(s.seq), `${s.kind} ${s.seq} delivered after its grace ended`).toBe(false);
  }
};

describe('session resume fuzz', () => {
  it('drops, evictions, resumes and grace expiry never lose, repeat or reorder what the receiver was sent', () => {
    fc.assert(
      fc.property(fc.array(cmdArb, { minLength: 5, maxLength: 60 }), (cmds) => run(cmds)),
      { seed: Number(process.env.FC_SEED ?? 14_2026), numRuns: Number(process.env.FC_RUNS ?? 150) },
    );
  });
});
