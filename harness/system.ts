import type { HubConfig } from '../src/config';
import { buildRequest, type BuildOptions } from '../src/protocol/build';
import { HUB_ADDRESS } from '../src/protocol/envelope';
import type { Requests, RequestType } from '../src/protocol/messages';
import { checkAgainstModel, checkDurableState, InvariantViolation, violate } from './invariants';
import { clientBySocket, holds, nextMessageId, releaseClient, type ClientModel, type HubModel } from './model';
import { firstDifference, runTrace, TraceRunner, type RunOptions, type StepReport } from './runner';
import { TRACE_VERSION, type Step, type StepOutputs, type Trace } from './trace';
import { PONG_FRAME } from '../src/protocol/ping';

export type Frame = Record<string, any>;

/** When a request's correlated reply is due. */
export type ReplyDue = 'now' | 'eventually' | 'never';

/** What the fuzzer sent, so replies and deliveries can be matched back to it. */
export interface SentInfo {
  id: string;
  socket: string;
  type: string;
  /** The envelope's pattern; null for frames the hub cannot read as an envelope. */
  pattern: 'ask' | 'tell' | null;
  from: string | null;
  /**
   * Whether the sending session held `from` when it sent (its identity or a
   * registration in force). Only such a `from` may ever reach another actor.
   */
  fromHeld: boolean;
  /** The address the hub keeps for this request (a subscription's): `from` if held, else the identity. */
  actingAs: string | null;
  /** Global send order, for the per sender→target order check. */
  seq: number;
  step: number;
  due: ReplyDue;
  replies: number;
  // ---- Idempotent requests (issue 14 B): what the resend command repeats and compares against.
  /** The frame as sent, for an exact resend; absent for frames the fuzzer garbled. */
  text?: string;
  /** The correlated replies it got, in order. */
  answers: Frame[];
  /** How many times it was sent again with the same id: each may be answered once more. */
  resends: number;
}

export interface Delivery {
  socket: string;
  frame: Frame;
}

/** A step's outputs, parsed for the commands and the checks. */
export interface StepResult {
  report: StepReport;
  /** Every frame that reached a socket, parsed, in order per socket. */
  frames: Delivery[];
  /** The replies correlated with the request this step sent (if any). */
  replies: Frame[];
  /** What the fuzzer recorded about the request this step sent, if it sent one. */
  request: SentInfo | undefined;
  /** The step's request was a tell the hub processed: the sender is still live and nothing refused it. */
  tellProcessed: boolean;
}

/**
 * A command's lesson from its own step: it updates the model from the
 * replies, before the step's invariants compare the model with the hub.
 */
export type Learn = (res: StepResult) => void;


/**
 * The system under test as the model-based commands see it: the trace runner
 * plus everything needed to check the invariants after each step. Every step
 * a command takes goes through `step()`, which records it in the trace, runs
 * it, teaches the model what the hub acknowledged and checks the invariants;
 * a violation throws with the step in context, so fast-check shrinks to the
 * shortest command sequence that still breaks it.
 */
export class FuzzHub {
  readonly runner: TraceRunner;
  readonly steps: Step[] = [];
  readonly outputs: StepOutputs[] = [];
  readonly sent = new Map<string, SentInfo>();
  /** The last hub:metrics counters seen, so they can be checked never to go backwards. */
  readonly lastMetrics: Record<string, number> = {};
  private seq = 0;
  /** Last delivered sequence per sender socket → receiver socket → address. */
  private readonly order = new Map<string, number>();
  /** Every delivery so far: original message id, receiving socket and address. */
  private readonly delivered = new Set<string>();

  constructor(
    readonly header: Omit<Trace, 'steps' | 'version'>,
    options: RunOptions = {},
  ) {
    this.runner = new TraceRunner(header, options);
  }

  get config(): HubConfig {
    return this.runner.config;
  }

  get now(): number {
    return this.runner.now;
  }

  trace(): Trace {
    return {
      version: TRACE_VERSION,
      ...this.header,
      steps: this.steps.map((s, i) => {
        const o = this.outputs[i];
        return (o && Object.keys(o).length > 0 ? { ...s, outputs: o } : s) as Step;
      }),
    };
  }

  /** Builds a request envelope from a client, as a typed client library would. */
  envelope<K extends RequestType>(
    m: HubModel,
    c: ClientModel,
    type: K,
    payload: Requests[K],
    opts: Partial<BuildOptions> = {},
  ): ReturnType<typeof buildRequest<K>> {
    return buildRequest(type, payload, {
      from: c.identity ?? '@(anonymous)',
      id: nextMessageId(m),
      timestamp: m.now,
      ...opts,
    });
  }

  /** Sends a typed request from a client and returns the step's result. */
  async request<K extends RequestType>(
    m: HubModel,
    c: ClientModel,
    type: K,
    payload: Requests[K],
    opts: Partial<BuildOptions> = {},
    learn?: Learn,
  ): Promise<StepResult> {
    const env = this.envelope(m, c, type, payload, opts);
    return this.sendEnvelope(m, c, env, learn);
  }

  /** Sends an envelope (possibly tampered with) whose id the hub can read. */
  async sendEnvelope(m: HubModel, c: ClientModel, env: Record<string, any>, learn?: Learn): Promise<StepResult> {
    const pattern = env.pattern === 'ask' || env.pattern === 'tell' ? env.pattern : null;
    const due: ReplyDue = pattern !== 'ask' ? 'never' : env.type === 'hub:send' ? 'eventually' : 'now';
    const from = typeof env.from === 'string' ? env.from : null;
    const fromHeld = from !== null && holds(m, c, from);
    this.remember(m, {
      id: String(env.id),
      socket: c.socket,
      type: String(env.type),
      pattern,
      from,
      fromHeld,
      actingAs: fromHeld ? from : c.identity,
      due,
    });
    const text = JSON.stringify(env);
    this.sent.get(String(env.id))!.text = text;
    return this.step(m, { op: 'frame', socket: c.socket, text }, learn);
  }

  /** Sends a request again, byte for byte, with its original id (a client resending after a doubt). */
  async resend(m: HubModel, c: ClientModel, sent: SentInfo, learn?: Learn): Promise<StepResult> {
    sent.resends++;
    return this.step(m, { op: 'frame', socket: c.socket, text: sent.text! }, learn);
  }

  /** Registers an id the fuzzer put into a frame that is not a readable request (replies to it are allowed, not required). */
  remember(
    m: HubModel,
    info: Omit<SentInfo, 'seq' | 'step' | 'replies' | 'fromHeld' | 'actingAs' | 'answers' | 'resends'> & Partial<Pick<SentInfo, 'fromHeld' | 'actingAs'>>,
  ): void {
    if (this.sent.has(info.id)) violate('harness', `message id ${info.id} used twice`);
    this.sent.set(info.id, { fromHeld: false, actingAs: null, ...info, seq: ++this.seq, step: this.steps.length, replies: 0, answers: [], resends: 0 });
  }

  /** Runs one step: record, execute, observe closes, let the command learn, check. */
  async step(m: HubModel, step: Step, learn?: Learn): Promise<StepResult> {
    const report = await this.runner.exec(step);
    this.steps.push(step);
    this.outputs.push(report.outputs);
    m.now = this.runner.now;
    // Deliveries are judged against who was live when the step began: a socket
    // may get a delivery and be closed later in the same step (effects within
    // a step are checked in order through report.sends).
    const liveBefore = new Set(m.slots.flatMap((c) => (c?.phase === 'live' ? [c.socket] : [])));
    const frames: Delivery[] = [];
    for (const [socket, list] of Object.entries(report.outputs.frames ?? {})) {
      for (const text of list) {
        if (text === PONG_FRAME) {
          if (step.op !== 'frame' || step.socket !== socket) violate('runtime', `${socket} got a pong it did not ask for`);
          continue;
        }
        frames.push({ socket, frame: parse(text, socket) });
      }
    }
    this.observeCloses(m, step, report);
    const requestId = step.op === 'frame' ? requestIdOf(step.text) : step.op === 'binary' ? requestIdOf(binaryText(step.base64)) : null;
    const replies = requestId ? frames.filter((f) => f.frame.correlationId === requestId).map((f) => f.frame) : [];
    const request = requestId ? this.sent.get(requestId) : undefined;
    const sender = step.op === 'frame' || step.op === 'binary' ? clientBySocket(m, step.socket) : null;
    const tellProcessed = request !== undefined && request.pattern === 'tell' && replies.length === 0 && sender?.phase === 'live';
    const res: StepResult = { report, frames, replies, request, tellProcessed };
    try {
      learn?.(res);
      this.checkFrames(m, step, report, frames, liveBefore);
      this.checkReplies(report);
      checkDurableState(this.runner);
      checkAgainstModel(this.runner, m);
    } catch (err) {
      if (err instanceof InvariantViolation) err.message = `${err.message}\n  at step ${report.index}: ${describe(step)}`;
      throw err;
    }
    return res;
  }

  /** What the runtime did to sockets this step: closed sessions release everything they held. */
  private observeCloses(m: HubModel, step: Step, report: StepReport): void {
    for (const [socket] of Object.entries(report.outputs.closes ?? {})) {
      const c = clientBySocket(m, socket);
      if (c && c.phase !== 'closed') releaseClient(c, m.confirmCloses ? 'closed' : 'closing');
    }
    if (step.op === 'close') {
      const c = clientBySocket(m, step.socket);
      if (c) releaseClient(c, 'closed');
    }
    if (step.op === 'shutdown') m.shutdown = true;
  }

  // ------------------------------------------------------------------ checks

  private checkFrames(m: HubModel, step: Step, report: StepReport, frames: Delivery[], liveBefore: Set<string>): void {
    if (report.outputs.error) violate('no-throw', `an exception escaped the hub core: ${report.outputs.error}`);

    // The runtime drops frames for a closed socket. Deliveries and notices must
    // never be sent then; a reply to the request of this very step must come
    // before the close (acknowledge-before-close). Answers to older asks that
    // were still pending may race with the close and are merely dropped.
    for (const send of report.sends) {
      if (send.closedBy === null) continue;
      const frame = parse(send.frame, send.socket);
      const by = send.closedBy === 'hub' ? 'the hub' : 'its client';
      if (isDelivery(frame)) violate('closed-session', `a delivery was sent to ${send.socket} after ${by} closed it: ${send.frame}`);
      if (frame.correlationId === null) violate('closed-session', `${frame.type} was sent to ${send.socket} after ${by} closed it`);
      const request = this.sent.get(frame.correlationId);
      if (request && request.step === report.index) {
        violate('closed-session', `the reply to ${request.id} (${request.type}) came after ${by} closed ${send.socket}; it must come first`);
      }
    }

    const raw = step.op === 'frame' ? step.text : '';
    for (const { socket, frame } of frames) {
      if (frame.payload?.code === 'internal_error') violate('no-throw', `a handler failed: ${JSON.stringify(frame)}`);
      const receiver = clientBySocket(m, socket);
      if (isDelivery(frame)) {
        this.checkDelivery(socket, frame, receiver, liveBefore.has(socket));
        continue;
      }
      if (frame.from !== HUB_ADDRESS) violate('envelope', `${socket} got a frame that is neither a delivery nor from the hub: ${JSON.stringify(frame)}`);
      if (typeof frame.metadata !== 'object' || frame.metadata === null) violate('envelope', `hub frame without metadata: ${JSON.stringify(frame)}`);
      const id = frame.correlationId;
      if (id === null) continue;
      const sent = this.sent.get(id);
      if (!sent) {
        // A garbled frame may still carry an id the hub can sniff; anything else is invented.
        if (!raw.includes(id)) violate('replies', `${socket} got ${frame.type} correlated with ${id}, which was never sent`);
        continue;
      }
      if (sent.socket !== socket) violate('replies', `the reply to ${id} (sent on ${sent.socket}) went to ${socket}`);
      sent.replies++;
      if (sent.replies > 1 + sent.resends) violate('replies', `${id} (${sent.type}) got a second correlated reply: ${frame.type}`);
      if (sent.resends === 0) sent.answers.push(frame);
    }
  }

  private checkDelivery(socket: string, frame: Frame, receiver: ClientModel | null, wasLive: boolean): void {
    if (frame.correlationId !== null) violate('deliveries', `a delivery to ${socket} carries correlationId ${frame.correlationId}`);
    if (!receiver || !wasLive) {
      violate('closed-session', `${socket} got a delivery while ${receiver ? receiver.phase : 'unknown'}: ${JSON.stringify(frame)}`);
    }
    if (!receiver!.everHeld.has(frame.to)) {
      violate('deliveries', `${socket} got a delivery for ${frame.to}, an address its session never held (held: ${[...receiver!.everHeld].join(', ')})`);
    }
    const origin = this.sent.get(frame.metadata.originalMessageId);
    if (!origin) violate('deliveries', `delivery to ${socket} names an unknown original message ${frame.metadata.originalMessageId}`);
    if (origin!.from !== frame.from) violate('deliveries', `delivery of ${origin!.id} claims to be from ${frame.from}; it was sent as ${origin!.from}`);
    // Whatever `from` a session's hub-only requests carried, others only ever see one it held.
    if (!origin!.fromHeld) violate('spoofing', `delivery of ${origin!.id} carries ${frame.from}, which its sender did not hold`);
    // No message is delivered twice to the same address of the same socket (a resent id above all).
    const once = `${origin!.id}\u0001${socket}\u0001${frame.to}`;
    if (this.delivered.has(once)) violate('duplicates', `${socket} (${frame.to}) got ${origin!.id} a second time`);
    this.delivered.add(once);
    const key = `${origin!.socket}\u0001${socket}\u0001${frame.to}`;
    const last = this.order.get(key) ?? 0;
    if (origin!.seq <= last) {
      violate('order', `${socket} (${frame.to}) got ${origin!.id} from ${origin!.socket} after a message that was sent later`);
    }
    this.order.set(key, origin!.seq);
  }

  /** Asks due now must be answered within the step, unless the socket closed. */
  private checkReplies(report: StepReport): void {
    for (const sent of this.sent.values()) {
      if (sent.step !== report.index || sent.due !== 'now' || sent.replies > 0) continue;
      if (this.runner.socket(sent.socket)?.closed) continue;
      violate('replies', `${sent.id} (${sent.type} ask on ${sent.socket}) got no reply and the socket is still open`);
    }
  }

  /**
   * At the end of a run: every ask got exactly one reply or its socket closed.
   * Call after the settle steps have flushed what can be flushed.
   */
  checkAllAnswered(): void {
    for (const sent of this.sent.values()) {
      if (sent.pattern !== 'ask' || sent.due === 'never' || sent.replies === 1 || (sent.resends > 0 && sent.replies > 1)) continue;
      if (this.runner.socket(sent.socket)?.closed) continue;
      violate('replies', `${sent.id} (${sent.type} ask on ${sent.socket}) was never answered and its socket is open`);
    }
  }

  /** Runs the recorded trace again with and without evictions; outputs must be byte-identical. */
  async checkHibernationEquivalence(): Promise<void> {
    const trace = this.trace();
    const recorded = this.outputs;
    const runs: [string, StepOutputs[]][] = [
      ['replayed', (await runTrace(trace)).outputs],
      ['hibernating before every step', (await runTrace(trace, { hibernateBetweenSteps: true })).outputs],
      ['never hibernating', (await runTrace(trace, { skipHibernateSteps: true })).outputs],
    ];
    for (const [label, outputs] of runs) {
      const diff = firstDifference(trace, recorded, outputs, ['as recorded', label]);
      if (diff) violate(label === 'replayed' ? 'determinism' : 'hibernation', diff);
    }
  }
}

const parse = (text: string, socket: string): Frame => {
  try {
    const v = JSON.parse(text) as unknown;
    if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new Error('not an object');
    return v as Frame;
  } catch {
    return violate('envelope', `${socket} got a frame that is not a JSON object: ${text.slice(0, 200)}`);
  }
};

const isDelivery = (frame: Frame): boolean => frame.metadata?.forwarded === true && frame.from !== HUB_ADDRESS;

const requestIdOf = (text: string): string | null => {
  try {
    const v = JSON.parse(text) as { id?: unknown };
    return typeof v?.id === 'string' ? v.id : null;
  } catch {
    return null;
  }
};

/** The text of a binary frame as the hub reads it (UTF-8); garbage decodes to something unparseable. */
const binaryText = (base64: string): string => new TextDecoder().decode(Uint8Array.from(atob(base64), (ch) => ch.charCodeAt(0)));

const describe = (step: Step): string => {
  const { outputs: _o, ...rest } = step;
  const s = JSON.stringify(rest);
  return s.length > 300 ? `${s.slice(0, 300)}…` : s;
};
