import { HUB_ADDRESS } from '../protocol/envelope';
import { errorReply } from '../protocol/errors';

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
