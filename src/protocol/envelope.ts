import { z } from 'zod';
import { wellFormed } from './strings';

/**
 * The protocol this hub and its client library speak. 0.2 adds session
 * resume (docs/PROTOCOL.md "Session resume"): only a client that says 0.2
 * (or later) gets a grace period after a drop. A 0.1 client, every deployed
 * one among them, keeps the contract's close rule: on any close its
 * registrations and subscriptions are released at once.
 */
export const PROTOCOL_VERSION = '0.2.0';
export const SERVER_VERSION = '0.1.0';
export const SUPPORTED_VERSIONS = ['0.1.0', PROTOCOL_VERSION];
export const SERVICE_NAME = 'signal-hub';
export const HUB_ADDRESS = '@(cloudflare/signal-hub)';
export const MAX_ADDRESS_PATH = 256;

const ADDRESS_PATTERN = /^@\([^)]+\)$/;

/** `@(path)`: path non-empty, no `)` inside, at most 256 characters. */
export const addressSchema = wellFormed(
  z
    .string()
    .max(MAX_ADDRESS_PATH + 3, { message: `address path longer than ${MAX_ADDRESS_PATH} characters` })
    .regex(ADDRESS_PATTERN, { message: 'expected a canonical address "@(path)" with no ")" inside the path' }),
);

/** The same test as `addressSchema` (a frame is refused earlier if any string in it is ill-formed), without building a zod result. */
export const isCanonicalAddress = (text: string): boolean =>
  text.length <= MAX_ADDRESS_PATH + 3 && ADDRESS_PATTERN.test(text);
export type Address = z.infer<typeof addressSchema>;

export const addressPath = (address: string): string =>
  address.startsWith('@(') && address.endsWith(')') ? address.slice(2, -1) : address;

export const metadataSchema = z.record(wellFormed(z.string()), z.unknown());

/**
 * The envelope every frame carries. `id`, `from`, `to`, `type`, `pattern` and
 * `timestamp` are required; the optional fields default the way 0.1.0 clients
 * that omit them expect (see docs/PROTOCOL.md, "Envelope").
 */
export const envelopeSchema = z.object({
  id: wellFormed(z.string().min(1).max(256)),
  from: addressSchema,
  to: addressSchema,
  type: wellFormed(z.string().min(1).max(256)),
  payload: z.unknown().optional().transform((v): unknown => (v === undefined ? null : v)),
  pattern: z.enum(['tell', 'ask']),
  correlationId: wellFormed(z.string()).nullable().optional().transform((v) => v ?? null),
  timestamp: z.number().finite(),
  metadata: metadataSchema.nullable().optional().transform((v) => v ?? {}),
  ttl: z.number().finite().nonnegative().nullable().optional().transform((v) => v ?? null),
  signature: wellFormed(z.string()).nullable().optional().transform((v) => v ?? null),
});

export type Envelope = z.output<typeof envelopeSchema>;
/** What a client builds before sending: optional fields may be left out. */
export type EnvelopeInput = z.input<typeof envelopeSchema>;

export interface Issue {
  path: string;
  message: string;
}

export const issuesOf = (error: z.ZodError, prefix = ''): Issue[] =>
  error.issues.map((issue) => ({
    path: [prefix, ...issue.path.map(String)].filter((p) => p !== '').join('.') || '(root)',
    message: issue.message,
  }));
