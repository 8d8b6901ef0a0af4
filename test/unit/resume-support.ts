import { expect } from 'vitest';
import type { FakeHubObject, FakeSocket } from '../../harness/fake-object';
import { mintToken } from '../../src/auth/jwt';
import { prepareAuth } from '../../src/auth/prepare';
import { buildRequest } from '../../src/protocol/build';
import { PROTOCOL_VERSION, type Msg, type Peer, type Scenario } from './core-harness';

/**
 * What the session-resume and session-takeover tests share: reconnecting
 * with a resume token, reading a session's token, the application frames a
 * peer got, and connecting with a JWT when auth is on.
 */

/** A new socket that connects as `address` presenting `resumeToken` (none for undefined); returns the peer and its hub:connected. */
export const reconnect = (sc: Scenario, address: string, resumeToken: string | null | undefined): [Peer, Msg] => {
  const peer = sc.open(address);
  const reply = peer.ask('hub:connect', resumeToken === undefined ? null : { resumeToken: resumeToken ?? '' }, {
    metadata: { protocolVersion: PROTOCOL_VERSION },
  });
  expect(reply.type, JSON.stringify(reply.payload)).toBe('hub:connected');
  peer.connected = reply;
  return [peer, reply];
};

export const tokenOf = (peer: Peer): string => {
  const token = peer.connected?.payload.resumeToken;
  expect(typeof token).toBe('string');
  return token as string;
};

/** Application frames (not hub replies) a peer received, as `type:data`. */
export const appFrames = (msgs: Msg[]): string[] =>
  msgs.filter((m) => !String(m.type).startsWith('hub:')).map((m) => `${m.type}:${JSON.stringify(m.payload)}`);

export interface AuthConnected {
  socket: FakeSocket;
  payload: { sessionId: string; resumeToken: string; resumed: boolean };
}

/** With auth on: connects `actorId` with an hour-long JWT signed with `secret`, optionally presenting a resume token. */
export const authConnector =
  (fake: FakeHubObject, secret: string) =>
  async (actorId: string, resumeToken?: string): Promise<AuthConnected> => {
    const socket = fake.open();
    const authToken = await mintToken(secret, { actorId, sub: `user:${actorId}`, lifetimeSeconds: 3600, now: fake.clock.now() });
    const text = JSON.stringify(
      buildRequest('hub:connect', resumeToken ? { resumeToken } : null, {
        from: `@(${actorId})`,
        pattern: 'ask',
        metadata: { protocolVersion: PROTOCOL_VERSION, authToken },
      }),
    );
    const now = fake.clock.now();
    fake.perform(fake.hub().frame(socket.connId, text, now, await prepareAuth(text, secret, now)));
    const reply = fake.messages(socket).find((m) => m.type === 'hub:connected')!;
    expect(reply, JSON.stringify(fake.messages(socket))).toBeDefined();
    return { socket, payload: reply.payload as AuthConnected['payload'] };
  };
