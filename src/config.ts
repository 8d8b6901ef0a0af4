import { z } from 'zod';
import { permissionsSchema } from './core/auth';

/**
 * Every limit and interval of the contract is a `[vars]` entry. Wrangler hands
 * vars over as numbers or booleans from wrangler.toml but as strings from
 * `--var` and `.dev.vars`, so each field accepts both and is validated once.
 */
const int = (def: number, min = 1) =>
  z.coerce.number().int().min(min).default(def);

const bool = (def: boolean) =>
  z
    .union([z.boolean(), z.enum(['true', 'false', '1', '0', ''])])
    .default(def)
    .transform((v) => v === true || v === 'true' || v === '1');

export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export const varsSchema = z.object({
    MAX_MESSAGE_SIZE: int(1_048_576, 1024),
    CONNECT_TIMEOUT_MS: int(10_000, 100),
    HB_INTERVAL_SECONDS: int(20),
    HEARTBEAT_TIMEOUT_MS: z.coerce.number().int().min(100).optional(),
    DEFAULT_ACTOR_TTL: int(300),
    MAX_ACTOR_TTL: int(3600),
    ACTOR_REGISTRY_LIMIT: int(50_000),
    CLEANUP_INTERVAL_MS: int(300_000, 100),
    RATE_LIMIT_PER_SECOND: int(10),
    RATE_LIMIT_BURST: int(20),
    BROADCAST_SYNC_THRESHOLD: int(100),
    MAX_BROADCAST_RECIPIENTS: int(10_000),
    PAUSE_BUFFER_LIMIT: int(1000),
    QUEUE_PAUSE_THRESHOLD: int(1000),
    QUEUE_RESUME_THRESHOLD: int(250, 0),
    MAX_REGISTRATIONS_PER_SESSION: int(1000),
    MAX_SUBSCRIPTIONS_PER_SESSION: int(1000),
    MAX_PENDING_ASKS_PER_SESSION: int(1000),
    LOG_LEVEL: z.enum(LOG_LEVELS).default('info'),
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
      }),
});


export const configSchema = varsSchema
  .transform((v) => ({
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
    maxBroadcastRecipients: v.MAX_BROADCAST_RECIPIENTS,
    pauseBufferLimit: v.PAUSE_BUFFER_LIMIT,
    queuePauseThreshold: v.QUEUE_PAUSE_THRESHOLD,
    queueResumeThreshold: v.QUEUE_RESUME_THRESHOLD,
    maxRegistrationsPerSession: v.MAX_REGISTRATIONS_PER_SESSION,
    maxSubscriptionsPerSession: v.MAX_SUBSCRIPTIONS_PER_SESSION,
    maxPendingAsksPerSession: v.MAX_PENDING_ASKS_PER_SESSION,
    logLevel: v.LOG_LEVEL,
    authEnabled: v.AUTH_ENABLED,
    inspectEnabled: v.INSPECT_ENABLED,
    defaultPermissions: v.DEFAULT_PERMISSIONS,
  }))
  .refine((c) => c.defaultActorTtlSeconds <= c.maxActorTtlSeconds, {
    message: 'DEFAULT_ACTOR_TTL must not exceed MAX_ACTOR_TTL',
  })
  .refine((c) => c.queueResumeThreshold < c.queuePauseThreshold, {
    message: 'QUEUE_RESUME_THRESHOLD must be below QUEUE_PAUSE_THRESHOLD',
  })
  .refine((c) => c.heartbeatTimeoutMs > c.heartbeatIntervalMs, {
    message: 'HEARTBEAT_TIMEOUT_MS must be longer than the heartbeat interval',
  });

export type HubConfig = z.output<typeof configSchema>;

export class ConfigError extends Error {
  constructor(readonly issues: { path: string; message: string }[]) {
    super(`invalid configuration: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`);
  }
}

/** Reads only the known keys so bindings and secrets never reach the parser's error text. */
export const parseConfig = (vars: Record<string, unknown>): HubConfig => {
  const picked: Record<string, unknown> = {};
  for (const key of Object.keys(varsSchema.shape)) {
    const value = vars[key];
    if (value !== undefined && value !== '') picked[key] = value;
  }
  const result = configSchema.safeParse(picked);
  if (!result.success) {
    throw new ConfigError(
      result.error.issues.map((i) => ({ path: i.path.join('.') || '(config)', message: i.message })),
    );
  }
  return result.data;
};

export const DEFAULT_CONFIG: HubConfig = parseConfig({});
