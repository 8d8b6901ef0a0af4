import { z } from 'zod';
import { permissionsSchema } from './core/auth';

/**
 * Every limit and interval of the contract is a `[vars]` entry. Wrangler hands
 * vars over as numbers or booleans from wrangler.toml but as strings from
 * `--var` and `.dev.vars`, so each field accepts both and is validated once.
 * Each field's description says what it allows; an error quotes it next to
 * the value given, so the person reading it knows what to write instead.
 */
const int = (def: number, min = 1) =>
  z.coerce.number().int().min(min).default(def).describe(`a whole number of at least ${min} (default ${def})`);

const bool = (def: boolean) =>
  z
    .union([z.boolean(), z.enum(['true', 'false', '1', '0', ''])])
    .default(def)
    .transform((v) => v === true || v === 'true' || v === '1')
    .describe(`true or false (default ${def})`);

export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export const varsSchema = z.object({
    MAX_MESSAGE_SIZE: int(1_048_576, 1024),
    CONNECT_TIMEOUT_MS: int(10_000, 100),
    HB_INTERVAL_SECONDS: int(20),
    HEARTBEAT_TIMEOUT_MS: z.coerce
      .number()
      .int()
      .min(100)
      .optional()
      .describe('a whole number of at least 100, above HB_INTERVAL_SECONDS × 1000 (default three intervals)'),
    DEFAULT_ACTOR_TTL: int(300),
    MAX_ACTOR_TTL: int(3600),
    ACTOR_REGISTRY_LIMIT: int(50_000),
    CLEANUP_INTERVAL_MS: int(300_000, 100),
    RATE_LIMIT_PER_SECOND: int(10),
    RATE_LIMIT_BURST: int(20),
    BROADCAST_SYNC_THRESHOLD: int(100),
    // Queued fan-out recipients one alarm run may send, in batches of BROADCAST_SYNC_THRESHOLD (1: one batch per run).
    BROADCAST_ALARM_LIMIT: int(1000),
    MAX_BROADCAST_RECIPIENTS: int(10_000),
    PAUSE_BUFFER_LIMIT: int(1000),
    QUEUE_PAUSE_THRESHOLD: int(1000),
    QUEUE_RESUME_THRESHOLD: int(250, 0),
    MAX_REGISTRATIONS_PER_SESSION: int(1000),
    MAX_SUBSCRIPTIONS_PER_SESSION: int(1000),
    MAX_PENDING_ASKS_PER_SESSION: int(1000),
    // ---- Idempotent requests and topic recovery (issue 14 B; docs/PROTOCOL.md "Idempotent requests", "Topic recovery").
    DEDUP_WINDOW_MS: int(60_000, 0),
    DEDUP_LIMIT: int(1000),
    DEDUP_FLUSH_MS: int(200, 10),
    // Counters, rate-limit bucket and liveness of a session are written at most this long after they change (0: every event; docs/PROTOCOL.md §11).
    SESSION_FLUSH_MS: int(200, 0),
    TOPIC_HISTORY_SIZE: int(100, 0),
    TOPIC_HISTORY_TTL_MS: int(120_000, 1000),
    // Session resume (issue 14): 0 turns it off, and a dropped socket releases its session at once as before.
    RESUME_GRACE_MS: int(30_000, 0),
    MAILBOX_LIMIT: int(1000),
    MAILBOX_MAX_BYTES: int(4_194_304, 1024),
    LOG_LEVEL: z.enum(LOG_LEVELS).default('info').describe(`one of ${LOG_LEVELS.join(', ')} (default info)`),
    AUTH_ENABLED: bool(false),
    INSPECT_ENABLED: bool(false),
    DEFAULT_PERMISSIONS: z
      .string()
      .default('{}')
      .transform((text, ctx) => {
        try {
          return permissionsSchema.strict().parse(JSON.parse(text));
        } catch {
          ctx.addIssue({ code: 'custom', message: 'DEFAULT_PERMISSIONS must be a JSON permissions object' });
          return z.NEVER;
        }
      })
      .describe('a JSON object {"send": [globs], "publish": [globs], "subscribe": [globs], "broadcast": bool}, or {} (default)'),
});


type Vars = z.output<typeof varsSchema>;

const toConfig = (v: Vars) => ({
  maxMessageSize: v.MAX_MESSAGE_SIZE,
  connectTimeoutMs: v.CONNECT_TIMEOUT_MS,
  heartbeatIntervalMs: v.HB_INTERVAL_SECONDS * 1000,
  // The contract's default is three missed heartbeats.
  heartbeatTimeoutMs: v.HEARTBEAT_TIMEOUT_MS ?? v.HB_INTERVAL_SECONDS * 3000,
  defaultActorTtlSeconds: v.DEFAULT_ACTOR_TTL,
  maxActorTtlSeconds: v.MAX_ACTOR_TTL,
  registryLimit: v.ACTOR_REGISTRY_LIMIT,
  cleanupIntervalMs: v.CLEANUP_INTERVAL_MS,
  rateLimitPerSecond: v.RATE_LIMIT_PER_SECOND,
  rateLimitBurst: v.RATE_LIMIT_BURST,
  broadcastSyncThreshold: v.BROADCAST_SYNC_THRESHOLD,
  broadcastAlarmLimit: v.BROADCAST_ALARM_LIMIT,
  maxBroadcastRecipients: v.MAX_BROADCAST_RECIPIENTS,
  pauseBufferLimit: v.PAUSE_BUFFER_LIMIT,
  queuePauseThreshold: v.QUEUE_PAUSE_THRESHOLD,
  queueResumeThreshold: v.QUEUE_RESUME_THRESHOLD,
  maxRegistrationsPerSession: v.MAX_REGISTRATIONS_PER_SESSION,
  maxSubscriptionsPerSession: v.MAX_SUBSCRIPTIONS_PER_SESSION,
  maxPendingAsksPerSession: v.MAX_PENDING_ASKS_PER_SESSION,
  // ---- Idempotent requests and topic recovery (issue 14 B).
  dedupWindowMs: v.DEDUP_WINDOW_MS,
  dedupLimit: v.DEDUP_LIMIT,
  dedupFlushMs: v.DEDUP_FLUSH_MS,
  sessionFlushMs: v.SESSION_FLUSH_MS,
  topicHistorySize: v.TOPIC_HISTORY_SIZE,
  topicHistoryTtlMs: v.TOPIC_HISTORY_TTL_MS,
  resumeGraceMs: v.RESUME_GRACE_MS,
  mailboxLimit: v.MAILBOX_LIMIT,
  mailboxMaxBytes: v.MAILBOX_MAX_BYTES,
  logLevel: v.LOG_LEVEL,
  authEnabled: v.AUTH_ENABLED,
  inspectEnabled: v.INSPECT_ENABLED,
  defaultPermissions: v.DEFAULT_PERMISSIONS,
});

type VarName = keyof Vars;

/**
 * Rules between vars. Each runs whenever the vars it reads are valid on their
 * own, so a cross-field problem is reported together with any field errors
 * instead of only after they are fixed. It blames the first var it names.
 */
const CROSS_CHECKS: { vars: VarName[]; ok: (v: Vars) => boolean; allowed: (v: Vars) => string }[] = [
  {
    vars: ['DEFAULT_ACTOR_TTL', 'MAX_ACTOR_TTL'],
    ok: (v) => v.DEFAULT_ACTOR_TTL <= v.MAX_ACTOR_TTL,
    allowed: (v) => `at most MAX_ACTOR_TTL (${v.MAX_ACTOR_TTL})`,
  },
  {
    vars: ['QUEUE_RESUME_THRESHOLD', 'QUEUE_PAUSE_THRESHOLD'],
    ok: (v) => v.QUEUE_RESUME_THRESHOLD < v.QUEUE_PAUSE_THRESHOLD,
    allowed: (v) => `below QUEUE_PAUSE_THRESHOLD (${v.QUEUE_PAUSE_THRESHOLD})`,
  },
  {
    vars: ['HEARTBEAT_TIMEOUT_MS', 'HB_INTERVAL_SECONDS'],
    ok: (v) => (v.HEARTBEAT_TIMEOUT_MS ?? v.HB_INTERVAL_SECONDS * 3000) > v.HB_INTERVAL_SECONDS * 1000,
    allowed: (v) => `longer than the heartbeat interval, HB_INTERVAL_SECONDS × 1000 (${v.HB_INTERVAL_SECONDS * 1000} ms)`,
  },
  {
    // A request resent after a resume must still be recognised: the window covers the grace period.
    vars: ['DEDUP_WINDOW_MS', 'RESUME_GRACE_MS'],
    ok: (v) => v.DEDUP_WINDOW_MS === 0 || v.DEDUP_WINDOW_MS >= v.RESUME_GRACE_MS,
    allowed: (v) => `0 (off) or at least RESUME_GRACE_MS (${v.RESUME_GRACE_MS})`,
  },
  {
    // The runtime hibernates an idle object after about 10 s; the session flush must come well before that.
    vars: ['SESSION_FLUSH_MS'],
    ok: (v) => v.SESSION_FLUSH_MS <= 5000,
    allowed: () => 'at most 5000 (the flush must run before an idle object hibernates)',
  },
  {
    // A flush later than the window would let an id be forgotten before it was ever stored.
    vars: ['DEDUP_FLUSH_MS', 'DEDUP_WINDOW_MS'],
    ok: (v) => v.DEDUP_WINDOW_MS === 0 || v.DEDUP_FLUSH_MS < v.DEDUP_WINDOW_MS,
    allowed: (v) => `below DEDUP_WINDOW_MS (${v.DEDUP_WINDOW_MS})`,
  },
];

export type HubConfig = ReturnType<typeof toConfig>;

/** One problem with one variable; `path` is the variable's name. */
export interface ConfigIssue {
  path: string;
  /** What was given (secrets are never quoted, only described). */
  value: unknown;
  /** What the variable accepts. */
  allowed: string;
  /** One sentence naming all three, for logs and the 500 body. */
  message: string;
}

export class ConfigError extends Error {
  constructor(readonly issues: ConfigIssue[]) {
    super(`invalid configuration: ${issues.map((i) => i.message).join('; ')}`);
  }
}

const quote = (value: unknown): string => {
  if (typeof value === 'number' && Number.isNaN(value)) return 'NaN';
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
};

export const configIssue = (path: string, value: unknown, allowed: string, shown = quote(value)): ConfigIssue => ({
  path,
  value,
  allowed,
  message: `${path} is ${shown}; allowed: ${allowed}`,
});

/** Reads only the known keys so bindings and secrets never reach the parser's error text. */
export const parseConfig = (vars: Record<string, unknown>): HubConfig => {
  const shape = varsSchema.shape as Record<string, z.ZodType>;
  const given: Record<string, unknown> = {};
  const values: Record<string, unknown> = {};
  const issues: ConfigIssue[] = [];
  // Field by field, so that every bad var is reported and the good ones are
  // still known to the cross-field checks.
  for (const [name, schema] of Object.entries(shape)) {
    const value = vars[name];
    if (value !== undefined && value !== '') given[name] = value;
    const result = schema.safeParse(given[name]);
    if (result.success) values[name] = result.data;
    else issues.push(configIssue(name, given[name], schema.description ?? result.error.issues[0]?.message ?? 'see wrangler.toml'));
  }
  const v = values as Vars;
  for (const check of CROSS_CHECKS) {
    if (check.vars.every((name) => name in values) && !check.ok(v)) {
      const blamed = check.vars[0]!;
      issues.push(configIssue(blamed, given[blamed] ?? v[blamed], check.allowed(v)));
    }
  }
  if (issues.length > 0) throw new ConfigError(issues);
  return toConfig(v);
};

/** The operator token guards /metrics, /dashboard and shutdown; a short one is guessable. */
export const OPERATOR_TOKEN_MIN_LENGTH = 16;

const describeSecret = (value: unknown): string =>
  typeof value === 'string' && value.length > 0 ? `set (${value.length} characters)` : 'not set';

/**
 * The vars plus the rules that involve secrets, all reported together. The
 * Worker and the Durable Object both read their env through this, so they
 * agree on what is valid.
 */
export const parseEnv = (env: Record<string, unknown>): HubConfig => {
  let config: HubConfig | null = null;
  const issues: ConfigIssue[] = [];
  try {
    config = parseConfig(env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    issues.push(...err.issues);
  }
  const secret = env.JWT_SECRET;
  // Auth on without a secret would let nobody in (or worse, accept tokens signed with ""). Read
  // AUTH_ENABLED on its own, so this shows up even when other vars are broken too.
  const auth = varsSchema.shape.AUTH_ENABLED.safeParse(env.AUTH_ENABLED === '' ? undefined : env.AUTH_ENABLED);
  if (auth.success && auth.data && !(typeof secret === 'string' && secret.length > 0)) {
    issues.push(configIssue('JWT_SECRET', undefined, 'a non-empty secret when AUTH_ENABLED is true (wrangler secret put JWT_SECRET)', 'not set'));
  }
  const operator = env.OPERATOR_TOKEN;
  if (operator !== undefined && operator !== '' && !(typeof operator === 'string' && operator.length >= OPERATOR_TOKEN_MIN_LENGTH)) {
    issues.push(
      configIssue(
        'OPERATOR_TOKEN',
        undefined,
        `unset (operator endpoints off) or a secret of at least ${OPERATOR_TOKEN_MIN_LENGTH} characters`,
        describeSecret(operator),
      ),
    );
  }
  if (issues.length > 0 || !config) throw new ConfigError(issues);
  return config;
};

export const DEFAULT_CONFIG: HubConfig = parseConfig({});
