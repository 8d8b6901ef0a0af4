import { HUB_ADDRESS } from '../protocol/envelope';
import { errorReply } from '../protocol/errors';
import type { Envelope } from '../protocol/envelope';

/**
 * The `internal_error` reply the adapter sends when an exception escaped the
 * core. The core builds every other frame; this one exists because the core
 * itself failed, so no request id or sender is known.
 */
export const internalErrorFrame = (id: string, now: number): string =>
  JSON.stringify({
    id,
    from: HUB_ADDRESS,
    to: '@(unknown)',
    ...errorReply({
      code: 'internal_error',
      message: 'The hub failed while handling this message.',
      // No request id is known here, unlike the core's own internal_error.
      resolution: 'Retry the request; if it keeps failing, report the time to the hub operator.',
    }),
    pattern: 'tell',
    correlationId: null,
    timestamp: now,
    metadata: {},
    ttl: null,
    signature: null,
  });

/**
 * The answer of an application hook to `message`: from the address the
 * message was sent to, back to its sender, correlated with its id. It is an
 * application message, not a hub reply, so it carries the metadata of a
 * forwarded one (docs/PROTOCOL.md, "Application messages").
 */
export const hookReplyFrame = (id: string, now: number, message: Envelope, type: string, payload: unknown): string =>
  JSON.stringify({
    id,
    from: message.to,
    to: message.from,
    type,
    payload,
    pattern: 'tell',
    correlationId: message.id,
    timestamp: now,
    metadata: { forwarded: true, via: HUB_ADDRESS, originalMessageId: message.id },
    ttl: null,
    signature: null,
  });
