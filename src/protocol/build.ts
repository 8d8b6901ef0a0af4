import { HUB_ADDRESS, type EnvelopeInput } from './envelope';
import type { Requests, RequestType } from './messages';

export interface BuildOptions {
  from: string;
  to?: string;
  id?: string;
  pattern?: 'tell' | 'ask';
  timestamp?: number;
  metadata?: Record<string, unknown>;
  ttl?: number | null;
}

/**
 * Builds a request envelope whose payload is checked against the same zod
 * schema the hub validates with (through its inferred input type), so a
 * client or test cannot compile a payload the hub would refuse for its shape.
 */
export const buildRequest = <K extends RequestType>(
  type: K,
  payload: Requests[K],
  opts: BuildOptions,
): EnvelopeInput & { id: string; type: K } => ({
  id: opts.id ?? crypto.randomUUID(),
  from: opts.from,
  to: opts.to ?? HUB_ADDRESS,
  type,
  payload: payload ?? null,
  pattern: opts.pattern ?? 'ask',
  correlationId: null,
  timestamp: opts.timestamp ?? Date.now(),
  metadata: opts.metadata ?? {},
  ttl: opts.ttl ?? null,
  signature: null,
});
