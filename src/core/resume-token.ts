import { createHash, timingSafeEqual } from 'node:crypto';
import type { IdSource } from './turn';

/**
 * Resume tokens (issue 14). The token is the random part of the id source
 * (24 random bytes in the Durable Object, so 192 bits) and only its SHA-256
 * is kept: the session record sits in storage for the whole grace period,
 * and a copy of storage must not be enough to take a session over.
 *
 * Synchronous on purpose: the core is synchronous (`crypto.subtle.digest`
 * is not), and `node:crypto` is available in workerd with `nodejs_compat`.
 */

export const newResumeToken = (ids: IdSource): string => ids.token();

export const hashResumeToken = (token: string): string => createHash('sha256').update(token, 'utf8').digest('base64url');

/** Whether two token hashes are equal, compared in constant time. */
export const sameHash = (x: string, y: string): boolean => {
  const a = Buffer.from(x);
  const b = Buffer.from(y);
  return a.length === b.length && timingSafeEqual(a, b);
};
