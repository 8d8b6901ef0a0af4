import { errors, jwtVerify, SignJWT, type JWTPayload } from 'jose';
import { z } from 'zod';
import { permissionsSchema, type Permissions } from '../core/auth';
import { MAX_PERMISSION_CHARS, permissionChars, sessionCapabilitiesSchema } from '../protocol/limits';
import { wellFormed } from '../protocol/strings';

/**
 * JWT verification and minting (HS256, issuer "signal-hub") with `jose`.
 * Everything here is asynchronous, so the Durable Object shell runs it before
 * handing a frame to the synchronous hub core: the verdict arrives in the
 * core as event data, like the current time.
 */
export const ISSUER = 'signal-hub';
export const CLOCK_SKEW_SECONDS = 30;
export const REFRESHED_LIFETIME_SECONDS = 3600;


/** An address path: what `@(...)` may wrap. */
const actorPath = wellFormed(z.string().min(1).max(250).regex(/^[^)]+$/, 'an actor id must not contain ")"'));

/**
 * Claims we read. `actorId` names the identity; tokens minted by 0.1.0
 * clients carry only `sub` (and no `iss`), so `sub` stands in for it then
 * (docs/PROTOCOL.md, "0.1.0 client compatibility").
 */
const claimsSchema = z.object({
  // A JSON escape in the payload can yield a lone surrogate; such claims would become identities and capabilities.
  sub: wellFormed(z.string().min(1).max(256)),
  actorId: actorPath.optional(),
  // Capabilities and permissions live in the session's attachment: bounded so it always fits (src/protocol/limits.ts).
  capabilities: sessionCapabilitiesSchema.default([]),
  permissions: permissionsSchema.refine((p) => permissionChars(p) <= MAX_PERMISSION_CHARS).optional(),
  exp: z.number(),
  // Tokens are not scoped to a hub in this release (docs/PROTOCOL.md §15): a
  // token that asks for it is refused, so an issuer expecting scoping fails closed.
  hub: z.undefined({ message: 'tokens cannot be scoped to a hub in this release' }).optional(),
  hubs: z.undefined({ message: 'tokens cannot be scoped to a hub in this release' }).optional(),
});

/** 0.1.0 clients put a whole address in `sub` (`@(local/x)`); the identity wraps the path once. */
const unwrapAddress = (sub: string): string => (sub.startsWith('@(') && sub.endsWith(')') ? sub.slice(2, -1) : sub);

export type TokenRefusal =
  | 'missing_token'
  | 'malformed_token'
  | 'unsupported_algorithm'
  | 'invalid_signature'
  | 'wrong_issuer'
  | 'token_expired'
  | 'token_not_yet_valid'
  | 'invalid_claims';

export interface VerifiedToken {
  ok: true;
  /** The raw token without a bearer prefix. */
  token: string;
  identity: string;
  actorId: string;
  sub: string;
  capabilities: string[];
  permissions: Permissions | null;
  /** Expiry in epoch ms. */
  expiresAt: number;
  claims: JWTPayload;
}
export interface RefusedToken {
  ok: false;
  reason: TokenRefusal;
}
export type TokenVerdict = VerifiedToken | RefusedToken;

// "bearer" alone (an empty token after the prefix) strips to '' too, so it reads as a missing token.
export const stripBearer = (raw: string): string => raw.trim().replace(/^bearer(\s+|$)/i, '');

const secretKey = (secret: string): Uint8Array => new TextEncoder().encode(secret);

const refusalOf = (err: unknown): TokenRefusal => {
  if (err instanceof errors.JWTExpired) return 'token_expired';
  if (err instanceof errors.JWTClaimValidationFailed) {
    if (err.claim === 'iss') return 'wrong_issuer';
    // A required claim that is absent or not a number (no exp at all) is not an expiry problem.
    if (err.reason === 'missing' || err.reason === 'invalid') return 'invalid_claims';
    if (err.claim === 'nbf' || err.claim === 'iat') return 'token_not_yet_valid';
    if (err.claim === 'exp') return 'token_expired';
    return 'invalid_claims';
  }
  if (err instanceof errors.JOSEAlgNotAllowed || err instanceof errors.JOSENotSupported) return 'unsupported_algorithm';
  if (err instanceof errors.JWSSignatureVerificationFailed) return 'invalid_signature';
  return 'malformed_token';
};

export const verifyToken = async (raw: string | undefined | null, secret: string, now: number): Promise<TokenVerdict> => {
  if (raw === undefined || raw === null || stripBearer(raw) === '') return { ok: false, reason: 'missing_token' };
  const token = stripBearer(raw);
  try {
    const { payload } = await jwtVerify(token, secretKey(secret), {
      algorithms: ['HS256'],
      clockTolerance: CLOCK_SKEW_SECONDS,
      currentDate: new Date(now),
      requiredClaims: ['exp', 'sub'],
    });
    // An issuer is optional (0.1.0 clients mint tokens without one); a different one is refused.
    if (payload.iss !== undefined && payload.iss !== ISSUER) return { ok: false, reason: 'wrong_issuer' };
    const claims = claimsSchema.safeParse(payload);
    if (!claims.success) return { ok: false, reason: 'invalid_claims' };
    const actorId = claims.data.actorId ?? actorPath.safeParse(unwrapAddress(claims.data.sub)).data;
    if (actorId === undefined) return { ok: false, reason: 'invalid_claims' };
    return {
      ok: true,
      token,
      identity: `@(${actorId})`,
      actorId,
      sub: claims.data.sub,
      capabilities: claims.data.capabilities,
      permissions: claims.data.permissions ?? null,
      expiresAt: claims.data.exp * 1000,
      claims: payload,
    };
  } catch (err) {
    return { ok: false, reason: refusalOf(err) };
  }
};

export interface MintOptions {
  actorId: string;
  sub?: string;
  capabilities?: string[];
  permissions?: Permissions;
  lifetimeSeconds?: number;
  now?: number;
}

export const mintToken = async (secret: string, opts: MintOptions): Promise<string> => {
  const nowSeconds = Math.floor((opts.now ?? Date.now()) / 1000);
  const body: JWTPayload = {
    actorId: opts.actorId,
    capabilities: opts.capabilities ?? [],
    ...(opts.permissions ? { permissions: opts.permissions } : {}),
  };
  return new SignJWT(body)
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setIssuer(ISSUER)
    .setSubject(opts.sub ?? opts.actorId)
    .setIssuedAt(nowSeconds)
    .setExpirationTime(nowSeconds + (opts.lifetimeSeconds ?? REFRESHED_LIFETIME_SECONDS))
    .sign(secretKey(secret));
};

/**
 * A new token with the same claims and a fresh one-hour lifetime. Only the
 * time claims are replaced; everything else the issuer put in is carried over.
 */
export const reissue = async (secret: string, verified: VerifiedToken, now: number): Promise<{ token: string; expiresAt: number }> => {
  const nowSeconds = Math.floor(now / 1000);
  const { iat: _iat, exp: _exp, nbf: _nbf, ...kept } = verified.claims;
  const token = await new SignJWT(kept)
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setIssuer(ISSUER)
    .setIssuedAt(nowSeconds)
    .setExpirationTime(nowSeconds + REFRESHED_LIFETIME_SECONDS)
    .sign(secretKey(secret));
  return { token, expiresAt: (nowSeconds + REFRESHED_LIFETIME_SECONDS) * 1000 };
};
