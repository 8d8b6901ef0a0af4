import { HubDirectory, SignalHub, routeSignalHubRequest, type CloseInfo, type ConnectClaim, type Env, type Envelope, type HubConnection } from '../../src/hub/index';

/**
 * A Worker of its own that mounts the hub as a user would: a SignalHub
 * subclass with hooks, its own /api routes, everything else through
 * routeSignalHubRequest. Imports only the hub package's entry point.
 */

/** The identity this hub turns away, whatever its token or metadata. */
export const BANNED = '@(mount/banned)';

export class MountedHub extends SignalHub {
  override authorize(claim: ConnectClaim) {
    if (claim.identity === BANNED) return { reason: 'banned', message: `${claim.identity} may not connect to this hub.` };
    return undefined;
  }

  /** app:echo is answered with app:echoed; app:count replies with how many app messages this object saw. */
  override onMessage(conn: HubConnection, message: Envelope): void {
    this.seen++;
    if (message.type === 'app:echo') conn.reply(message, 'app:echoed', { echo: message.payload, identity: conn.identity });
    else if (message.type === 'app:count') conn.reply(message, 'app:counted', { seen: this.seen });
  }

  /** Remembers who left and how, where the test can read it (storage outlives a hibernation). */
  override onClose(conn: HubConnection, info: CloseInfo): void {
    this.ctx.storage.sql.exec('CREATE TABLE IF NOT EXISTS mount_closes (identity TEXT, code INTEGER)');
    this.ctx.storage.sql.exec('INSERT INTO mount_closes (identity, code) VALUES (?, ?)', conn.identity, info.code);
  }

  private seen = 0;
}

export { HubDirectory };

export default {
  async fetch(request: Request, env: Env): Promise<Response> {
    const url = new URL(request.url);
    if (url.pathname.startsWith('/api/')) return Response.json({ app: 'mine', path: url.pathname });
    return (await routeSignalHubRequest(request, env)) ?? new Response('not the hub, not the app', { status: 404 });
  },
} satisfies ExportedHandler<Env>;
