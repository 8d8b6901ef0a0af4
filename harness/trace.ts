import { z } from 'zod';
import { DEFAULT_CONFIG, type HubConfig } from '../src/config';

/**
 * A protocol trace: everything that happens to one hub, as data. A trace is
 * what the fuzzer records, what `npm run replay` prints and what the
 * regression suite re-runs, so it is plain JSON with a version and a schema.
 *
 * Steps are what the runtime can do to the hub: a socket opens, a client
 * sends a frame (anything, including garbage; binary frames as base64), time
 * passes, the alarm fires, the object is evicted, a client closes its socket,
 * or the server shuts down. Each step may carry the outputs recorded when it
 * ran: frames per socket, raw and in order, and the sockets the hub closed.
 */

export const TRACE_VERSION = 1;

const socketName = z.string().regex(/^[A-Za-z0-9_.-]{1,32}$/, 'socket names are 1-32 characters of A-Z a-z 0-9 _ . -');

export const closeSchema = z.object({ code: z.number().int(), reason: z.string() });

export const outputsSchema = z
  .object({
    /** Frames the hub sent (and the runtime's pongs), per socket, byte for byte. */
    frames: z.record(z.string(), z.array(z.string())).optional(),
    /** Sockets the hub closed during the step. */
    closes: z.record(z.string(), closeSchema).optional(),
    /** Frames the hub tried to send to a socket that was already closed (the runtime drops them). */
    dropped: z.record(z.string(), z.array(z.string())).optional(),
    /** Message of an exception that escaped the hub core. */
    error: z.string().optional(),
  })
  .strict();
export type StepOutputs = z.infer<typeof outputsSchema>;

const withOutputs = <T extends z.ZodRawShape>(shape: T) => z.object({ ...shape, outputs: outputsSchema.optional() }).strict();

export const stepSchema = z.discriminatedUnion('op', [
  withOutputs({ op: z.literal('open'), socket: socketName }),
  withOutputs({ op: z.literal('frame'), socket: socketName, text: z.string() }),
  withOutputs({ op: z.literal('binary'), socket: socketName, base64: z.string().regex(/^[A-Za-z0-9+/]*={0,2}$/) }),
  /**
   * Time passes. The alarm fires at each time it was set for on the way,
   * unless `lateAlarm`: then the runtime delivers it late (after the next
   * events), which real Durable Object alarms may do.
   */
  withOutputs({ op: z.literal('advance'), ms: z.number().int().nonnegative(), lateAlarm: z.literal(true).optional() }),
  withOutputs({ op: z.literal('alarm') }),
  withOutputs({ op: z.literal('hibernate') }),
  withOutputs({ op: z.literal('close'), socket: socketName, code: z.number().int().min(0).max(4999) }),
  withOutputs({ op: z.literal('shutdown') }),
]);
export type Step = z.infer<typeof stepSchema>;
export type StepOp = Step['op'];

/**
 * Config overrides are checked against the keys and value kinds of the
 * default config, so a trace written for an older config fails loudly
 * instead of silently running with a default.
 */
const configValueSchema = (value: unknown): z.ZodType => {
  if (typeof value === 'number') return z.number();
  if (typeof value === 'boolean') return z.boolean();
  if (typeof value === 'string') return z.string();
  return z.unknown();
};
const configShape = Object.fromEntries(
  Object.entries(DEFAULT_CONFIG).map(([key, value]) => [key, configValueSchema(value).optional()]),
) as Record<keyof HubConfig, z.ZodOptional<z.ZodType>>;
export const configOverridesSchema = z.object(configShape).strict();
export type ConfigOverrides = Partial<HubConfig>;

export const traceSchema = z
  .object({
    version: z.literal(TRACE_VERSION),
    name: z.string().optional(),
    description: z.string().optional(),
    /** Seed of the hub's id and token generator. */
    seed: z.number().int().default(1),
    /** Simulated epoch ms at the first step. */
    startTime: z.number().int().nonnegative().default(1_700_000_000_000),
    config: configOverridesSchema.default({}),
    /** HS256 secret the simulated shell verifies tokens with when `config.authEnabled`. */
    jwtSecret: z.string().default('signal-hub-trace-secret'),
    /**
     * Whether a client answers the hub's close at once, so the runtime reports
     * the close back to the hub right after the step (as a browser does). When
     * false the close stays unconfirmed until the trace closes that socket.
     */
    confirmCloses: z.boolean().default(true),
    steps: z.array(stepSchema),
  })
  .strict();
export type Trace = z.output<typeof traceSchema>;
export type TraceInput = z.input<typeof traceSchema>;

export class TraceError extends Error {}

/** Parses and validates a trace from JSON text or a value; issues name the failing path. */
export const parseTrace = (input: string | unknown): Trace => {
  let value: unknown = input;
  if (typeof input === 'string') {
    try {
      value = JSON.parse(input);
    } catch (err) {
      throw new TraceError(`trace is not JSON: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  const parsed = traceSchema.safeParse(value);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
    throw new TraceError(`invalid trace:\n  ${issues.join('\n  ')}`);
  }
  return parsed.data;
};

/**
 * A trace's config: the defaults, then what the trace recorded. Session
 * resume is off unless the trace turns it on: traces from before it existed
 * recorded a dropped socket releasing its session at once, and must replay
 * as recorded. Likewise an alarm run sends one batch of queued fan-out
 * unless the trace says otherwise (BROADCAST_ALARM_LIMIT came later).
 */
export const configOf = (trace: Pick<Trace, 'config'>): HubConfig => ({
  ...DEFAULT_CONFIG,
  resumeGraceMs: 0,
  broadcastAlarmLimit: 1,
  ...(trace.config as Partial<HubConfig>),
});

/** The trace with each step's outputs replaced by `outputs` (or removed). */
export const withRecordedOutputs = (trace: Trace, outputs: (StepOutputs | undefined)[]): Trace => ({
  ...trace,
  steps: trace.steps.map((step, i) => {
    const { outputs: _old, ...rest } = step;
    const out = outputs[i];
    return (out && !isEmptyOutputs(out) ? { ...rest, outputs: out } : rest) as Step;
  }),
});

export const isEmptyOutputs = (o: StepOutputs): boolean =>
  !o.error && !o.frames && !o.closes && !o.dropped;

/** Stable JSON for a trace: two-space indentation, keys in schema order. */
export const formatTrace = (trace: Trace): string => `${JSON.stringify(trace, null, 2)}\n`;

export const describeStep = (step: Step): string => {
  switch (step.op) {
    case 'open':
      return `open ${step.socket}`;
    case 'frame':
      return `${step.socket} <- ${step.text.length > 160 ? `${step.text.slice(0, 160)}… (${step.text.length} chars)` : step.text}`;
    case 'binary':
      return `${step.socket} <- binary(${step.base64.length} base64 chars)`;
    case 'advance':
      return `advance ${step.ms} ms${step.lateAlarm ? ' (the alarm is late)' : ''}`;
    case 'alarm':
      return 'alarm fires';
    case 'hibernate':
      return 'hibernate (evict the object, sockets stay open)';
    case 'close':
      return `${step.socket} closes (${step.code})`;
    case 'shutdown':
      return 'server shutdown';
  }
};
