import type { HubConfig } from '../src/config';
import type { Effect } from '../src/core/effects';
import type { MachineStep } from '../src/core/hub';
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
 * always produces byte-identical outputs. Each step becomes a runtime event
 * for the fake's runtime adapter (the same one the Durable Object uses); the
 * runner only watches the effects go by, to report what each step sent and
 * closed, and reports the hub's closes back once the peer answers.
 */
export class TraceRunner {
  readonly fake: FakeHubObject;
  readonly config: HubConfig;
  private readonly byName = new Map<string, FakeSocket>();
  private readonly nameOf = new Map<string, string>();
  /** Sockets the hub closed whose close the runtime has not reported back yet, in closing order. */
  private readonly unconfirmed: string[] = [];
  private stepIndex = -1;
  /** The step being executed: its report and the closes the hub started in it. */
  private current: { report: StepReport; closes: Record<string, { code: number; reason: string }> } | null = null;

  constructor(
    readonly header: TraceHeader,
    readonly options: RunOptions = {},
  ) {
    this.config = configOf(header);
    const observe = options.onTransition;
    this.fake = new FakeHubObject(this.config, {
      clock: new SimClock(header.startTime),
      seed: header.seed,
      secret: header.jwtSecret,
      // Every core the adapter builds (first event, every wake) gets the transition observer.
      plugins: observe
        ? [
            {
              onEvent: (event) => {
                if (event.type === 'woke') {
                  event.core.onTransition = (t) => observe({ ...t, socket: this.nameOf.get(t.connId) ?? t.connId, stepIndex: this.stepIndex });
                }
              },
            },
          ]
        : [],
      onEffect: (effect) => this.observe(effect),
      onFault: (err) => this.fault(err),
    });
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
    const closes: Record<string, { code: number; reason: string }> = {};
    const report: StepReport = { index: this.stepIndex, step, outputs: {}, sends: [], now: this.now };
    this.current = { report, closes };
    try {
      await this.perform(step);
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

  private async perform(step: Step): Promise<void> {
    switch (step.op) {
      case 'open': {
        if (this.byName.has(step.socket)) throw new TraceError(`socket ${step.socket} was opened before`);
        const socket = this.fake.open();
        this.byName.set(step.socket, socket);
        this.nameOf.set(socket.connId, step.socket);
        return;
      }
      case 'frame':
      case 'binary': {
        const socket = this.openSocket(step.socket);
        // A ping is answered by the runtime's auto-response, without waking the hub.
        await this.fake.send(socket, step.op === 'frame' ? step.text : base64ToBuffer(step.base64));
        this.confirm();
        return;
      }
      case 'advance':
        if (step.lateAlarm) this.fake.clock.set(this.now + step.ms);
        else this.fake.advance(step.ms, () => this.alarm(), (message) => new TraceError(message));
        return;
      case 'alarm':
        this.alarm();
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
        this.fake.reportClose(socket, step.code);
        this.confirm();
        return;
      }
      case 'shutdown':
        this.fake.shutdown();
        this.confirm();
        return;
    }
  }

  private alarm(): void {
    this.fake.fireAlarm();
    this.confirm();
  }

  private openSocket(name: string): FakeSocket {
    const socket = this.byName.get(name);
    if (!socket) throw new TraceError(`socket ${name} was never opened`);
    if (socket.closed) throw new TraceError(`socket ${name} is closed; a client cannot send on it`);
    return socket;
  }

  /** Notes, for the step's report, each send with the socket's state at that moment and each close the hub starts. */
  private observe(effect: Effect): void {
    const current = this.current;
    if (current === null) return;
    if (effect.kind === 'send') {
      const socket = this.fake.sockets.get(effect.conn);
      current.report.sends.push({ socket: this.nameOf.get(effect.conn) ?? effect.conn, frame: effect.frame, closedBy: socket?.closed?.by ?? null });
    } else if (effect.kind === 'close') {
      const socket = this.fake.sockets.get(effect.conn);
      const name = this.nameOf.get(effect.conn) ?? effect.conn;
      if (socket && !socket.closed) {
        current.closes[name] = { code: effect.code, reason: effect.reason };
        this.unconfirmed.push(name);
      }
    }
  }

  /** An exception escaped the core: recorded in the step's outputs (the adapter already dropped the core). */
  private fault(err: unknown): void {
    const outputs = this.current?.report.outputs;
    if (outputs === undefined) throw err;
    outputs.error = outputs.error ? `${outputs.error}; ${errorText(err)}` : errorText(err);
  }

  /** The peer answers the hub's closes; the runtime reports each back to the hub. */
  private confirm(): void {
    if (!this.header.confirmCloses) return;
    let guard = 0;
    while (this.unconfirmed.length > 0) {
      if (++guard > 10_000) throw new TraceError('closes kept cascading');
      const name = this.unconfirmed.shift()!;
      const socket = this.byName.get(name)!;
      this.fake.reportClose(socket, socket.closed?.code ?? 1000);
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
