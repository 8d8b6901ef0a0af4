import type { ErrorPayload, ErrorReplyType } from './replies';

/**
 * Every error the contract names, with the reply type it travels in, whether
 * retrying the same request can help, and a default one-line resolution.
 * Handlers pick a code and may sharpen the message; the shape stays fixed.
 */
export const ERRORS = {
  invalid_message: {
    replyType: 'hub:error',
    retryable: false,
    resolution: 'Fix the fields listed in details.issues and send the message again.',
  },
  unknown_type: {
    replyType: 'hub:error',
    retryable: false,
    resolution: 'Use one of the hub:* message types listed in the protocol document.',
  },
  not_connected: {
    replyType: 'hub:error',
    retryable: true,
    resolution: 'Send hub:connect first and wait for hub:connected.',
  },
  message_expired: {
    replyType: 'hub:error',
    retryable: true,
    resolution: 'Send the message again with a current timestamp or a longer ttl.',
  },
  ambiguous_target: {
    replyType: 'hub:error',
    retryable: false,
    resolution: 'Name the target once: either payload.to or the envelope to, not two different addresses.',
  },
  broadcast_limit_exceeded: {
    replyType: 'hub:error',
    retryable: false,
    resolution: 'Narrow the broadcast with metadata.targetCapability or publish to a topic instead.',
  },
  registry_full: {
    replyType: 'hub:error',
    retryable: true,
    resolution: 'Unregister unused actors or try again after registrations expire.',
  },
  invalid_token: {
    replyType: 'hub:error',
    retryable: false,
    resolution: 'Send the token from hub:connected or the latest hub:token_refreshed.',
  },
  // Fair shares per session (src/core/limits.ts); not in the 0.1 contract's table, which names no per-session caps.
  too_many_registrations: {
    replyType: 'hub:error',
    retryable: true,
    resolution: 'Unregister addresses this session no longer needs, or spread the actors over more sessions.',
  },
  too_many_subscriptions: {
    replyType: 'hub:error',
    retryable: true,
    resolution: 'Unsubscribe from topics this session no longer needs, or spread the subscriptions over more sessions.',
  },
  too_many_pending_asks: {
    replyType: 'hub:error',
    retryable: true,
    resolution: 'Wait for the hub:delivery_ack of earlier asks (their targets are paused or your queue is long), or send as tell.',
  },
  // Session resume (issue 14): what happens to a message for a suspended session.
  resume_expired: {
    replyType: 'hub:error',
    retryable: true,
    resolution: 'The target lost its connection and did not resume in time; discover it again and resend once it is back.',
  },
  mailbox_full: {
    replyType: 'hub:error',
    retryable: true,
    resolution: 'The target is offline and its mailbox is full; wait for it to resume (or its session to end) and resend.',
  },
  internal_error: {
    replyType: 'hub:error',
    retryable: true,
    resolution: 'Retry the request; if it keeps failing, report the request id to the hub operator.',
  },
  unknown_actor: {
    replyType: 'hub:unknown_actor',
    retryable: true,
    resolution: 'Discover a live actor with hub:discover, or wait until the target registers.',
  },
  unauthorized: {
    replyType: 'hub:unauthorized',
    retryable: false,
    resolution: 'Use your own identity or an address this session registered, with a valid token.',
  },
  rate_limited: {
    replyType: 'hub:rate_limited',
    retryable: true,
    resolution: 'Wait retryAfter milliseconds before sending again, then slow down.',
  },
  version_mismatch: {
    replyType: 'hub:version_mismatch',
    retryable: false,
    resolution: 'Upgrade or downgrade the client to a protocol version listed in supportedVersions.',
  },
  message_too_large: {
    replyType: 'hub:message_too_large',
    retryable: false,
    resolution: 'Send frames no larger than maxSize bytes; split large data or pass a reference to it.',
  },
} as const satisfies Record<string, { replyType: string; retryable: boolean; resolution: string }>;

export type ErrorCode = keyof typeof ERRORS;

export interface ErrorSpec {
  code: ErrorCode;
  message: string;
  resolution?: string;
  details?: Record<string, unknown>;
  /** Fields the contract puts at the top of the payload (retryAfter, actorAddress, ...). */
  extra?: Record<string, unknown>;
}

export const errorReply = (spec: ErrorSpec): { type: ErrorReplyType; payload: ErrorPayload } => {
  const entry = ERRORS[spec.code];
  const payload: ErrorPayload = {
    ...spec.extra,
    code: spec.code,
    message: spec.message,
    resolution: spec.resolution ?? entry.resolution,
    retryable: entry.retryable,
  };
  if (spec.details) payload.details = spec.details;
  return { type: entry.replyType, payload };
};
