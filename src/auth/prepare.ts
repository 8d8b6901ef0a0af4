import type { AuthInput } from '../core/auth';
import { reissue, verifyToken } from './jwt';

/**
 * Looks at a raw frame before the core sees it and, only for the two
 * requests that carry a JWT (hub:connect and hub:refresh_token), verifies it.
 * The cheap substring test keeps every other frame on the fast path; the
 * core still validates the frame fully, this only supplies the verdict.
 */
export const prepareAuth = async (
  text: string,
  secret: string,
  now: number,
  maxLength = Number.POSITIVE_INFINITY,
): Promise<AuthInput | undefined> => {
  // An oversized frame is refused by the core's size guard; never parse it here.
  if (text.length > maxLength) return undefined;
  if (!text.includes('hub:connect') && !text.includes('hub:refresh_token')) return undefined;
  let frame: { type?: unknown; metadata?: { authToken?: unknown }; payload?: { token?: unknown } };
  try {
    frame = JSON.parse(text) as typeof frame;
  } catch {
    return undefined;
  }
  if (frame === null || typeof frame !== 'object') return undefined;
  if (frame.type === 'hub:connect') {
    const raw = frame.metadata?.authToken;
    return { verdict: await verifyToken(typeof raw === 'string' ? raw : null, secret, now) };
  }
  if (frame.type === 'hub:refresh_token') {
    const raw = frame.payload?.token;
    const verdict = await verifyToken(typeof raw === 'string' ? raw : null, secret, now);
    return verdict.ok ? { verdict, reissued: await reissue(secret, verdict, now) } : { verdict };
  }
  return undefined;
};
