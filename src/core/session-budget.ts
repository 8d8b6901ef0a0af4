import type { Permissions } from './auth';
import type { HubRequest } from './request';
import { toAttachment, type Session } from './session';

/** The runtime's cap on one socket attachment (serializeAttachment throws above it). */
export const ATTACHMENT_LIMIT = 16 * 1024;
/**
 * What a session may weigh when it is accepted. The rest of the limit is
 * headroom for what changes later: the estimate already counts every number
 * at its largest size, so only short machine strings (a close reason) grow.
 */
export const SESSION_BUDGET = 12 * 1024;

const TWO_BYTE = /[^\u0000-\u00ff]/;

/**
 * An upper bound of the V8 structured-serialisation size of a JSON-like
 * value (what serializeAttachment writes): strings at one byte per character,
 * or two if any character is above U+00FF, plus a header; numbers at the
 * size of a double; containers with their tags and keys. Iterative, so no
 * shape can overflow the stack.
 */
export const serializedSize = (root: unknown): number => {
  let size = 8; // the serialiser's version header
  const stack: unknown[] = [root];
  while (stack.length > 0) {
    const value = stack.pop();
    if (typeof value === 'string') size += 5 + value.length * (TWO_BYTE.test(value) ? 2 : 1);
    else if (typeof value === 'number') size += 9;
    else if (Array.isArray(value)) {
      size += 10;
      for (const item of value) stack.push(item);
    } else if (value !== null && typeof value === 'object') {
      size += 10;
      for (const [k, v] of Object.entries(value)) {
        stack.push(k, v);
      }
    } else size += 1;
  }
  return size;
};

/**
 * The size the session's attachment would have once connected with these
 * identity, capabilities and permissions: checked before `hub:connected`
 * is sent, so a session that could not be persisted is never acknowledged.
 */
export const connectedSize = (
  session: Session,
  identity: string,
  capabilities: string[],
  permissions: Permissions | null,
): number => {
  const a = toAttachment(session);
  return serializedSize({
    ...a,
    machine: { value: 'rate-limited', context: { ...a.machine.context, identity, capabilities } },
    permissions,
  });
};

/** Refuses a `hub:connect` whose session would not fit its attachment; the session stays in `connecting`. */
export const refuseOversized = (req: HubRequest, identity: string, capabilities: string[], permissions: Permissions | null): boolean => {
  const size = connectedSize(req.session, identity, capabilities, permissions);
  if (size <= SESSION_BUDGET) return false;
  req.fail({
    code: 'invalid_message',
    message: `The session would need about ${size} bytes of state; a session may hold at most ${SESSION_BUDGET}.`,
    resolution: 'Connect with fewer or shorter capabilities (auth on: a token with fewer capabilities and permissions).',
    details: {
      issues: [{ path: 'metadata.capabilities', message: 'session state too large to persist' }],
      sessionBytes: size,
      limit: SESSION_BUDGET,
    },
  });
  return true;
};
