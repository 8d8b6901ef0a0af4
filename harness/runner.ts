import { prepareAuth } from '../src/auth/prepare';
import type { HubConfig } from '../src/config';
import type { AuthInput } from '../src/core/auth';
import type { Effect } from '../src/core/effects';
import type { HubCore, MachineStep } from '../src/core/hub';
import { PING_FRAME } from '../src/protocol/ping';
import { SimClock } from './clock';
import { FakeHubObject, type FakeSocket } from './fake-object';
import { configOf, isEmptyOutputs, TraceError, type Step, type StepOutputs, type Trace } from './trace';


/** A machine step as the runner reports it: which socket, during which trace step. */
export interface ObservedTransition extends MachineStep {
  socket: string;
  stepIndex: number;
}

export interface RunOptions {
  /** Evict the object before every step after the first (the hub must not notice). */
  hibernateBetweenSteps?: boolean;
  /** Treat `hibernate` steps as no-ops (the hub must not notice either). */
  skipHibernateSteps?: boolean;
  /** Sees every session-machine step (coverage, inspector). */
  onTransition?: (t: ObservedTransition) => void;
}

/** One frame the hub handed to the runtime, with the socket's state at that moment. */
export interface SendRecord {
  socket: string;
  frame: string;
  /** Who had closed the socket before this send, if anyone (the runtime then drops the frame). */
  closedBy: 'hub' | 'client' | null;
}

/** What a step did, in more detail than its outputs: the invariants look at this. */
export interface StepReport {
  index: number;
  step: Step;
  outputs: StepOutputs;
  sends: SendRecord[];
  /** Time at the end of the step. */
  now: number;
}

export type TraceHeader = Pick<Trace, 'config' | 'seed' | 'startTime' | 'jwtSecret' | 'confirmCloses'>;

const base64ToBuffer = (b64: string): ArrayBuffer => {
  const bin = atob(b64);
  const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  return bytes.buffer;
};

const errorText = (err: unknown): string => (err instanceof Error ? `${err.name}: ${err.message}` : String(err));

/**
 * Executes trace steps one at a time against the hub core inside the fake
 * Durable Object, on a simulated clock with seeded ids, so the same trace
 * always produces byte-identical outputs. It plays the part of
 * src/hub-object.ts: decodes each runtime event, hands it to the core with
 * the current time (and, with auth on, the token verdict), performs the
 * effects in order, and reports the hub's closes back once the peer answers.
 */
export class TraceRunner {
  readonly fake: FakeHubObject;
  readonly config: HubConfig;
  private readonly byName = new Map<string, FakeSocket>();
  private readonly nameOf = new Map<string, string>();
  /** Sockets the hub closed whose close the runtime has not reported back yet, in closing order. */
  private readonly unconfirmed: string[] = [];
  private stepIndex = -1;
  private current: StepReport | null = null;

  constructor(
    readonly header: TraceHeader,
    readonly options: RunOptions = {},
  ) {
    this.config = configOf(header);
    this.fake = new FakeHubObject(this.config, { clock: new SimClock(header.startTime), seed: header.seed });
  }

  get now(): number {
    return this.fake.clock.now();
  }

  socket(name: string): FakeSocket | undefined {
    return this.byName.get(name);
  }

  socketNames(): string[] {
    return [...this.byName.keys()];
  }

  /** The socket name of a connection id. */
  nameOfConn(connId: string): string | undefined {
    return this.nameOf.get(connId);
  }

  async exec(step: Step): Promise<StepReport> {
    this.stepIndex++;
    if (this.options.hibernateBetweenSteps && this.stepIndex > 0) this.fake.hibernate();
    const before = new Map<string, number>();
    for (const [name, s] of this.byName) before.set(name, s.received.length);
    const report: StepReport = { index: this.stepIndex, step, outputs: {}, sends: [], now: this.now };
    this.current = report;
    const closes: Record<string, { code: number; reason: string }> = {};
    try {
      await this.perform(step, closes);
    } finally {
      this.current = null;
    }
    const frames: Record<string, string[]> = {};
    for (const [name, s] of this.byName) {
      const fresh = s.received.slice(before.get(name) ?? 0);
      if (fresh.length > 0) frames[name] = fresh;
    }
    const dropped: Record<string, string[]> = {};
    for (const send of report.sends) if (send.closedBy !== null) (dropped[send.socket] ??= []).push(send.frame);
    if (Object.keys(frames).length > 0) report.outputs.frames = frames;
    if (Object.keys(closes).length > 0) report.outputs.closes = closes;
    if (Object.keys(dropped).length > 0) report.outputs.dropped = dropped;
    report.now = this.now;
    return report;
  }

  private async perform(step: Step, closes: Record<string, { code: number; reason: string }>): Promise<void> {
    switch (step.op) {
      case 'open': {
        if (this.byName.has(step.socket)) throw new TraceError(`socket ${step.socket} was opened before`);
        this.guard(closes, () => {
          this.core();
          const socket = this.fake.open();
          this.byName.set(step.socket, socket);
          this.nameOf.set(socket.connId, step.socket);
          return [];
        });
        return;
      }
      case 'frame':
      case 'binary': {
        const socket = this.openSocket(step.socket);
        if (step.op === 'frame' && step.text === PING_FRAME) {
          // The runtime's auto-response: answered without waking the hub.
          this.fake.send(socket, PING_FRAME);
          return;
        }
        const data = step.op === 'frame' ? step.text : base64ToBuffer(step.base64);
        let auth: AuthInput | undefined;
        if (this.config.authEnabled) {
          const text = typeof data === 'string' ? data : new TextDecoder().decode(data);
          auth = await prepareAuth(text, this.header.jwtSecret, this.now);
        }
        this.guard(closes, () => this.core().frame(socket.connId, data, this.now, auth));
        this.confirm(closes);
        return;
      }
      case 'advance': {
        const target = this.now + step.ms;
        let guard = 0;
        while (!step.lateAlarm && this.fake.alarmAt !== null && this.fake.alarmAt <= target) {
          if (++guard > 100_000) throw new TraceError('the alarm kept re-arming without time passing');
          this.fake.clock.set(Math.max(this.fake.alarmAt, this.now));
          this.alarm(closes);
        }
        this.fake.clock.set(target);
        return;
      }
      case 'alarm':
        this.alarm(closes);
        return;
      case 'hibernate':
        if (!this.options.skipHibernateSteps) this.fake.hibernate();
        return;
      case 'close': {
        const socket = this.byName.get(step.socket);
        if (!socket) throw new TraceError(`socket ${step.socket} was never opened`);
        const waiting = this.unconfirmed.indexOf(step.socket);
        if (socket.closed && waiting < 0) throw new TraceError(`socket ${step.socket} is already closed`);
        if (waiting >= 0) this.unconfirmed.splice(waiting, 1);
        else socket.closed = { code: step.code, reason: 'client', by: 'client' };
        this.guard(closes, () => this.core(socket).closed(socket.connId, step.code, this.now));
        this.confirm(closes);
        return;
      }
      case 'shutdown':
        this.guard(closes, () => this.core().shutdown(this.now));
        this.confirm(closes);
        return;
    }
  }

  private alarm(closes: Record<string, { code: number; reason: string }>): void {
    this.fake.alarmAt = null;
    this.guard(closes, () => this.core().tick(this.now));
    this.confirm(closes);
  }

  private openSocket(name: string): FakeSocket {
    const socket = this.byName.get(name);
    if (!socket) throw new TraceError(`socket ${name} was never opened`);
    if (socket.closed) throw new TraceError(`socket ${name} is closed; a client cannot send on it`);
    return socket;
  }

  /** The core, rebuilt after an eviction, with the transition observer attached. */
  private core(current?: FakeSocket): HubCore {
    const core = this.fake.hub(current);
    const observe = this.options.onTransition;
    core.onTransition = observe
      ? (t) => observe({ ...t, socket: this.nameOf.get(t.connId) ?? t.connId, stepIndex: this.stepIndex })
      : undefined;
    return core;
  }

  /**
   * Runs one core entry point and performs its effects one by one, noting the
   * socket's state at each send. An exception escaping the core is recorded
   * and, as in the shell, the in-memory core is dropped.
   */
  private guard(closes: Record<string, { code: number; reason: string }>, call: () => Effect[]): void {
    let effects: Effect[];
    try {
      effects = call();
    } catch (err) {
      if (err instanceof TraceError) throw err;
      const report = this.current!;
      report.outputs.error = report.outputs.error ? `${report.outputs.error}; ${errorText(err)}` : errorText(err);
      this.fake.hibernate();
      return;
    }
    for (const effect of effects) {
      if (effect.kind === 'send') {
        const socket = this.fake.sockets.get(effect.conn);
        this.current!.sends.push({
          socket: this.nameOf.get(effect.conn) ?? effect.conn,
          frame: effect.frame,
          closedBy: socket?.closed?.by ?? null,
        });
      } else if (effect.kind === 'close') {
        const socket = this.fake.sockets.get(effect.conn);
        const name = this.nameOf.get(effect.conn) ?? effect.conn;
        if (socket && !socket.closed) {
          closes[name] = { code: effect.code, reason: effect.reason };
          this.unconfirmed.push(name);
        }
      }
      this.fake.perform([effect]);
    }
  }

  /** The peer answers the hub's closes; the runtime reports each back to the hub. */
  private confirm(closes: Record<string, { code: number; reason: string }>): void {
    if (!this.header.confirmCloses) return;
    let guard = 0;
    while (this.unconfirmed.length > 0) {
      if (++guard > 10_000) throw new TraceError('closes kept cascading');
      const name = this.unconfirmed.shift()!;
      const socket = this.byName.get(name)!;
      const code = socket.closed?.code ?? 1000;
      this.guard(closes, () => this.core(socket).closed(socket.connId, code, this.now));
    }
  }

  /** Sockets the hub closed that still wait for the client's close (only when closes are not confirmed). */
  awaitingConfirmation(): readonly string[] {
    return this.unconfirmed;
  }
}

export interface RunResult {
  outputs: StepOutputs[];
  reports: StepReport[];
  runner: TraceRunner;
}

/** Runs a whole trace and returns each step's outputs. */
export const runTrace = async (trace: Trace, options: RunOptions = {}): Promise<RunResult> => {
  const runner = new TraceRunner(trace, options);
  const reports: StepReport[] = [];
  for (const step of trace.steps) reports.push(await runner.exec(step));
  return { outputs: reports.map((r) => r.outputs), reports, runner };
};

const canonical = (o: StepOutputs | undefined): string => JSON.stringify(o && !isEmptyOutputs(o) ? o : {});

/** The first step whose outputs differ, described for a failure message; null when all agree. */
export const firstDifference = (
  trace: Trace,
  a: (StepOutputs | undefined)[],
  b: (StepOutputs | undefined)[],
  labels: [string, string] = ['expected', 'actual'],
): string | null => {
  const n = Math.max(a.length, b.length, trace.steps.length);
  for (let i = 0; i < n; i++) {
    const x = canonical(a[i]);
    const y = canonical(b[i]);
    if (x !== y) {
      const step = trace.steps[i];
      return [
        `step ${i} (${step ? JSON.stringify({ ...step, outputs: undefined }) : 'missing'}) differs:`,
        `  ${labels[0]}: ${x}`,
        `  ${labels[1]}: ${y}`,
      ].join('\n');
    }
  }
  return null;
};

/** The outputs recorded in the trace itself. */
export const recordedOutputs = (trace: Trace): (StepOutputs | undefined)[] => trace.steps.map((s) => s.outputs);
