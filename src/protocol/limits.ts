import { z } from 'zod';
import { wellFormed } from './strings';

/**
 * Limits on what a session carries in its socket attachment, which the
 * runtime caps at 16 KiB (serializeAttachment throws above it). They are
 * derived so that the largest session the schemas admit stays well under
 * SESSION_BUDGET (see src/core/session-budget.ts and its test, which builds
 * that worst case and serialises it): every user-supplied string that lands
 * in the attachment is bounded here, counted at two bytes per character
 * (V8 stores a string with any character above U+00FF in UTF-16).
 *
 * - identity: an address, at most 259 characters (envelope.ts)
 * - session capabilities (connect metadata with auth off, the token claim
 *   with auth on): at most 32, each 1-128 characters, 2048 in total
 * - a token's permissions claim: at most 2048 characters over all globs
 * - the JWT itself is not kept in the attachment at all
 */
export const MAX_SESSION_CAPABILITIES = 32;
export const MAX_SESSION_CAPABILITY_LENGTH = 128;
export const MAX_SESSION_CAPABILITY_CHARS = 2048;
export const MAX_PERMISSION_CHARS = 2048;

const totalLength = (items: readonly string[]): number => items.reduce((n, s) => n + s.length, 0);

export const sessionCapabilitiesSchema = z
  .array(wellFormed(z.string().min(1).max(MAX_SESSION_CAPABILITY_LENGTH)))
  .max(MAX_SESSION_CAPABILITIES)
  .refine((caps) => totalLength(caps) <= MAX_SESSION_CAPABILITY_CHARS, {
    message: `session capabilities may hold at most ${MAX_SESSION_CAPABILITY_CHARS} characters in total`,
  });

/** Characters over every glob of a permissions object. */
export const permissionChars = (p: { send?: string[]; publish?: string[]; subscribe?: string[] }): number =>
  totalLength(p.send ?? []) + totalLength(p.publish ?? []) + totalLength(p.subscribe ?? []);
