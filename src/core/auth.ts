import { z } from 'zod';
import { addressPath } from '../protocol/envelope';
import { wellFormed } from '../protocol/strings';
import { compileGlob } from './glob';

/** The permissions claim of a JWT (or the configured defaults): globs per action, broadcast on/off. */
export const permissionsSchema = z.object({
  send: z.array(wellFormed(z.string().min(1).max(512))).max(64).optional(),
  publish: z.array(wellFormed(z.string().min(1).max(512))).max(64).optional(),
  subscribe: z.array(wellFormed(z.string().min(1).max(512))).max(64).optional(),
  broadcast: z.boolean().optional(),
});
export type Permissions = z.infer<typeof permissionsSchema>;

/** A verified token as the core needs it; produced by src/auth before the core runs. */
export type AuthVerdict =
  | {
      ok: true;
      token: string;
      identity: string;
      actorId: string;
      capabilities: string[];
      permissions: Permissions | null;
      expiresAt: number;
    }
  | { ok: false; reason: string };

/** The runtime's authorize hook turned a hub:connect down; the core answers it as the contract says. */
export interface ConnectRefusal {
  /** A short machine-readable reason, echoed in the error payload. */
  reason: string;
  message?: string;
  resolution?: string;
}

export interface AuthInput {
  /** The JWT verdict (auth on); absent when only a refusal is carried. */
  verdict?: AuthVerdict;
  /** For hub:refresh_token: the new token minted from a valid one. */
  reissued?: { token: string; expiresAt: number };
  /** For hub:connect: the runtime's authorize hook refused the identity. */
  refusal?: ConnectRefusal;
}

export type PermissionAction = 'send' | 'publish' | 'subscribe';

/** Whether `subject` (an address for send, a topic otherwise) is allowed; absent lists allow everything. */
export const permits = (perms: Permissions, action: PermissionAction, subject: string): boolean => {
  const patterns = perms[action];
  if (patterns === undefined) return true;
  return patterns.some((p) => compileGlob(p).matches(subject));
};

export const permitsBroadcast = (perms: Permissions): boolean => perms.broadcast !== false;

/** With auth on, a session may register only its identity and addresses below it. */
export const inScope = (identity: string, address: string): boolean => {
  if (address === identity) return true;
  return addressPath(address).startsWith(`${addressPath(identity)}/`);
};
