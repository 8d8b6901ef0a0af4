import { CLOSE_CODES } from '../../machines/session';
import { HUB_ADDRESS, addressPath } from '../protocol/envelope';
import { FORWARDING_TYPES } from '../protocol/messages';
import type { HubRequest } from './request';

/**
 * Reserved addresses. The hub speaks as `@(cloudflare/signal-hub)`; a client
 * that could be that address, or one a reader would take for it, could send
 * frames indistinguishable from the hub's own notices. **Decision:** the
 * whole `cloudflare` namespace is reserved for the service, compared without
 * regard to case: `@(cloudflare)` and every `@(cloudflare/...)`. No session
 * may have such an identity (auth off: the connect `from`; auth on: the
 * token's actorId), none may be registered, and no forwarded frame may come
 * from one.
 */
export const RESERVED_NAMESPACE = 'cloudflare';

/** The reference definition; `isReserved` is the same test without allocating for the common case. */
export const isReservedSlow = (address: string): boolean => {
  const path = addressPath(address).toLowerCase();
  return path === RESERVED_NAMESPACE || path.startsWith(`${RESERVED_NAMESPACE}/`);
};

const NS_LENGTH = RESERVED_NAMESPACE.length;
const SLASH = 0x2f;

/**
 * Runs on every forwarded frame, twice (issue 11: the lowercased copy was
 * ~1.6 % of a routed tell). Lowercasing maps no character other than ASCII
 * letters onto the ASCII letters of the namespace (multi-character results
 * such as İ's always hold a non-ASCII one), so the lowercased path starts
 * with `cloudflare` exactly when the path's first ten characters are
 * `cloudflare` in any ASCII case. Only paths of the right length and
 * delimiter are compared at all. test/unit/reserved-fast.test.ts checks
 * it against `isReservedSlow`.
 */
export const isReserved = (address: string): boolean => {
  const wrapped = address.startsWith('@(') && address.endsWith(')');
  const start = wrapped ? 2 : 0;
  const length = (wrapped ? address.length - 1 : address.length) - start;
  if (length < NS_LENGTH || (length > NS_LENGTH && address.charCodeAt(start + NS_LENGTH) !== SLASH)) return false;
  return address.slice(start, start + NS_LENGTH).toLowerCase() === RESERVED_NAMESPACE;
};

const RESOLUTION = `Use an address outside the reserved namespace @(${RESERVED_NAMESPACE}/...); ${HUB_ADDRESS} is the hub itself.`;

/** Connect: a reserved identity is an identity violation, refused like a bad token (4401). */
export const refuseReservedIdentity = (req: HubRequest, identity: string): boolean => {
  if (!isReserved(identity)) return false;
  req.fail({
    code: 'unauthorized',
    message: `hub:connect refused: ${identity} is reserved for the hub.`,
    resolution: RESOLUTION,
    extra: { action: 'connect', reason: 'reserved_address' },
  });
  req.turn.log.log('info', 'session.auth_refused', { sessionId: req.sessionId, traceId: req.traceId, reason: 'reserved_address' });
  req.hub.drive(req.turn, req.session, {
    type: 'CONNECT_REFUSED',
    now: req.turn.now,
    code: CLOSE_CODES.unauthorized,
    reason: 'unauthorized',
  });
  return true;
};

export const refuseReservedRegistration = (req: HubRequest, address: string): boolean => {
  if (!isReserved(address)) return false;
  req.fail({
    code: 'unauthorized',
    message: `${address} is reserved for the hub and cannot be registered.`,
    resolution: RESOLUTION,
    extra: { action: 'register', reason: 'reserved_address' },
  });
  return true;
};

/**
 * A forwarding request from a reserved address. Unreachable for state this
 * release creates (no identity or registration can be reserved); it stops
 * state written before it (a registration of the hub's address) from
 * speaking as the hub.
 */
export const refuseReservedSender = (req: HubRequest): boolean => {
  const { type, from } = req.envelope;
  if (!FORWARDING_TYPES.has(type) || !isReserved(from)) return false;
  req.fail({
    code: 'unauthorized',
    message: `This session may not send as ${from}: it is reserved for the hub.`,
    resolution: RESOLUTION,
    extra: { action: type, reason: 'reserved_address' },
  });
  return true;
};
