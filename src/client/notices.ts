import type { Envelope } from '../protocol/envelope';
import { ERROR_REPLY_TYPES } from '../protocol/replies';
import type { Emitter } from './emitter';
import { HubError } from './errors';
import type { Outbox } from './outbox';
import type { Transport } from './transport';
import type { HubClientEvents } from './types';

/** A hub notice that is no reply to a request: flow control, the hub ending the session, uncorrelated errors. */
export const onNotice = (frame: Envelope, events: Emitter<HubClientEvents>, outbox: Outbox, transport: Transport): void => {
  const payload = (frame.payload ?? {}) as Record<string, unknown>;
  switch (frame.type) {
    case 'hub:pause':
    case 'hub:resume': {
      const paused = frame.type === 'hub:pause';
      outbox.setHubPaused(paused);
      events.emit('flow', {
        paused,
        reason: typeof payload.reason === 'string' ? payload.reason : null,
        queueDepth: typeof payload.queueDepth === 'number' ? payload.queueDepth : null,
      });
      // Listeners hear of the resume before the held deliveries go out.
      if (!paused) outbox.flush();
      return;
    }
    case 'hub:disconnect': {
      const reason = typeof payload.reason === 'string' ? payload.reason : '';
      if (reason === 'duplicate_connection' || reason === 'token_expired') {
        transport.endsForGood(reason, HubError.endedByHub(reason, payload.message, frame.type));
      }
      return;
    }
    default:
      if (ERROR_REPLY_TYPES.has(frame.type)) {
        events.emit('error', HubError.fromReply(frame.type, frame.payload, frame.correlationId));
      }
  }
};
