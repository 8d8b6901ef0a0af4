import { DurableObject } from 'cloudflare:workers';

/**
 * The bench's ceiling: one Durable Object per name with hibernatable
 * WebSockets that moves raw text frames and does nothing else. Each socket is
 * tagged with the `id` query parameter the client picked, so clients can
 * address each other without a handshake frame.
 *
 *   echo:<x>      sends <x> back to the sender
 *   fan:<x>       sends <x> to every other socket of the object
 *   to:<id>:<x>   sends <x> to the socket tagged <id> (dropped if none)
 *   store:<x>     writes one SQLite row, then echoes <x>: prices one storage
 *                 write per frame for the bench's per-frame cost probe
 *   attach:<x>    rewrites the socket attachment, then echoes <x>
 *   work:<k>:<n>:<op>  parses <op>'s body with JSON.parse k times, then does
 *                 <op> (e.g. `to:<id>:<x>`): a frame that costs what a hub
 *                 frame costs, for the fairness experiment of bench/README.
 *                 With n > 0, after every n consecutive such frames from the
 *                 same socket the handler settles on a zero-delay timer, so
 *                 the runtime may poll its other sockets (it does not: bench/README.md, fifth round; what works is holding the frame itself, src/runtime/fair-queue.ts)
 *
 * Anything else is ignored.
 */

interface Env {
  BASELINE: DurableObjectNamespace<Baseline>;
}

const NAME = /^[A-Za-z0-9_.-]{1,64}$/;

export class Baseline extends DurableObject<Env> {
  private tableReady = false;
  private writes = 0;
  private streakWs: WebSocket | null = null;
  private streak = 0;

  override async fetch(request: Request): Promise<Response> {
    const id = new URL(request.url).searchParams.get('id') ?? crypto.randomUUID();
    const pair = new WebSocketPair();
    this.ctx.acceptWebSocket(pair[1], [id]);
    return new Response(null, { status: 101, webSocket: pair[0] });
  }

  override async webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): Promise<void> {
    const text = typeof message === 'string' ? message : new TextDecoder().decode(message);
    // Consecutive frames of one socket, counted over every frame so that another socket's frame starts the count again.
    if (ws !== this.streakWs) {
      this.streakWs = ws;
      this.streak = 0;
    }
    this.streak++;
    if (text.startsWith('work:')) return this.work(ws, text);
    this.handle(ws, text);
  }

  /** `work:<k>:<n>:<op>`: k parses of the body as stand-in hub work, then the op; a yield every n frames of one socket. */
  private work(ws: WebSocket, text: string): Promise<void> | undefined {
    const a = text.indexOf(':', 5);
    const b = text.indexOf(':', a + 1);
    if (a < 0 || b < 0) return undefined;
    const rounds = Number(text.slice(5, a));
    const every = Number(text.slice(a + 1, b));
    const op = text.slice(b + 1);
    const body = op.slice(op.indexOf('{'));
    for (let i = 0; i < rounds; i++) JSON.parse(body);
    this.handle(ws, op);
    if (!(every > 0) || this.streak < every) return undefined;
    this.streak = 0;
    return new Promise<void>((done) => setTimeout(done, 0));
  }

  private handle(ws: WebSocket, text: string): void {
    const colon = text.indexOf(':');
    if (colon < 0) return;
    const op = text.slice(0, colon);
    const rest = text.slice(colon + 1);
    if (op === 'echo') {
      ws.send(rest);
    } else if (op === 'fan') {
      for (const other of this.ctx.getWebSockets()) if (other !== ws) other.send(rest);
    } else if (op === 'to') {
      const sep = rest.indexOf(':');
      if (sep < 0) return;
      this.ctx.getWebSockets(rest.slice(0, sep))[0]?.send(rest.slice(sep + 1));
    } else if (op === 'store') {
      if (!this.tableReady) {
        this.ctx.storage.sql.exec('CREATE TABLE IF NOT EXISTS w (k INTEGER PRIMARY KEY, v TEXT NOT NULL)');
        this.tableReady = true;
      }
      this.ctx.storage.sql.exec('INSERT OR REPLACE INTO w (k, v) VALUES (?, ?)', this.writes++ % 64, rest);
      ws.send(rest);
    } else if (op === 'attach') {
      ws.serializeAttachment({ lastSeen: Date.now(), note: rest.slice(0, 64) });
      ws.send(rest);
    }
  }

  override async webSocketClose(ws: WebSocket, code: number): Promise<void> {
    // Finish the close handshake at once, as the hub does.
    try {
      ws.close(code === 1005 || code === 1006 ? 1000 : code, 'closed');
    } catch {
      // Already closed.
    }
  }
}

export default {
  async fetch(request: Request, env: Env): Promise<Response> {
    const url = new URL(request.url);
    if (url.pathname === '/health') return Response.json({ status: 'ok', service: 'bench-baseline' });
    const match = /^\/ws\/([^/]+)$/.exec(url.pathname);
    if (!match?.[1] || !NAME.test(match[1])) return new Response('not found', { status: 404 });
    if (request.headers.get('Upgrade')?.toLowerCase() !== 'websocket') return new Response('upgrade required', { status: 426 });
    return env.BASELINE.get(env.BASELINE.idFromName(match[1])).fetch(request);
  },
} satisfies ExportedHandler<Env>;
