import { SignJWT } from 'jose';
import { WorkerdClient } from '../workerd/hub-client';

/** The secret vitest.config.ts gives the workerd-auth project. */
export const SECRET = 'test-secret-for-workerd-auth';

/** A valid HS256 token of ours for `actorId`, ten minutes long; `extra` adds or overrides claims. */
export const signFor = (actorId: string, extra: Record<string, unknown> = {}): Promise<string> =>
  new SignJWT({ actorId, capabilities: [], ...extra })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setIssuer('signal-hub')
    .setSubject(`user:${actorId}`)
    .setIssuedAt()
    .setExpirationTime('10m')
    .sign(new TextEncoder().encode(SECRET));

/** Opens a socket claiming `from` and sends hub:connect with `token`; returns the client and the reply. */
export const connectWithToken = async (hub: string, token: string, from = '@(local/client)') => {
  const client = await WorkerdClient.open(hub, from);
  const id = client.request('hub:connect', null, { metadata: { protocolVersion: '0.1.0', authToken: token } });
  return { client, reply: await client.reply(id) };
};
