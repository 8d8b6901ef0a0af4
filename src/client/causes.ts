import { HubError } from './errors';

/**
 * Why a connection attempt failed or a connection ended, as far as the
 * platform lets the client know. Node's `ws` reports refused connections,
 * DNS failures and the HTTP answer to a refused upgrade; a browser reports
 * none of these (only a close with code 1006), so there the cause is
 * `closed` and `message` says that the browser does not expose why.
 */
export type ConnectionCause =
  /** Nothing listens at the URL's host and port (ECONNREFUSED). */
  | { kind: 'refused'; code: string; message: string }
  /** The URL's host name does not resolve (ENOTFOUND, EAI_AGAIN). */
  | { kind: 'dns'; code: string; message: string }
  /** The server answered the upgrade with an HTTP status instead of 101; `body` is its first ~2 KB, when known. */
  | { kind: 'http'; status: number; body?: string; message: string }
  /** The socket closed; `code` and `reason` are the close frame's (1006: closed without one). */
  | { kind: 'closed'; code: number; reason: string; message: string }
  /** No hub:connected within connectTimeoutMs, or connect({timeoutMs}) ran out. */
  | { kind: 'timeout'; message: string };

/** Bytes of a refused upgrade's body kept for the cause: enough for the hub's JSON error, bounded against large pages. */
export const HTTP_BODY_LIMIT = 2048;

const BROWSER_HIDES = 'the browser does not expose why';

/** The cause in a `ws` error event (or an Error thrown by a WebSocket constructor); null when it names none. */
export const causeOfError = (error: unknown, url: string): ConnectionCause | null => {
  const err = error as { code?: unknown; message?: unknown } | null | undefined;
  const code = typeof err?.code === 'string' ? err.code : '';
  const message = typeof err?.message === 'string' ? err.message : '';
  const where = hostOf(url);
  if (code === 'ECONNREFUSED') return { kind: 'refused', code, message: `connection refused at ${where}` };
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') {
    return { kind: 'dns', code, message: `the host name of ${where} does not resolve (${code})` };
  }
  const http = /Unexpected server response: (\d{3})/.exec(message);
  if (http) return httpCause(Number(http[1]), undefined);
  if (code) return { kind: 'refused', code, message: `could not reach ${where} (${code})` };
  return null;
};

export const httpCause = (status: number, body: string | undefined): ConnectionCause => ({
  kind: 'http',
  status,
  ...(body !== undefined ? { body } : {}),
  message: `the hub refused the connection: HTTP ${status}${body ? ` ${body.slice(0, 300)}` : ''}`,
});

/** A close without a better cause. `opened`: whether the socket had opened (a 1006 before that hides a failed upgrade). */
export const closeCause = (code: number, reason: string, opened: boolean): ConnectionCause => ({
  kind: 'closed',
  code,
  reason,
  message:
    !opened && code === 1006
      ? `the connection failed before the WebSocket opened (code 1006); ${BROWSER_HIDES}`
      : `the connection closed with code ${code}${reason ? ` (${reason})` : ''}`,
});

export const timeoutCause = (ms: number): ConnectionCause => ({
  kind: 'timeout',
  message: `no hub:connected within ${ms} ms`,
});

/** The `issues` of the hub's `invalid_configuration` answer (src/index.ts), or null when the body is something else. */
const configIssues = (body: string | undefined): string | null => {
  if (!body) return null;
  try {
    const parsed = JSON.parse(body) as { error?: unknown; issues?: unknown };
    if (parsed.error !== 'invalid_configuration') return null;
    const issues = Array.isArray(parsed.issues) ? parsed.issues : [];
    return (
      issues
        .map((i: { path?: unknown; message?: unknown }) => `${Array.isArray(i.path) ? i.path.join('.') : String(i.path ?? '')}: ${String(i.message ?? '')}`)
        .join('; ') || 'no details given'
    );
  } catch {
    // A truncated or non-JSON body: only the marker can still be recognised.
    return body.includes('"invalid_configuration"') ? 'no details readable' : null;
  }
};

/**
 * Whether reconnecting cannot help: a 4xx answer (except 429, a rate limit)
 * means the URL or the request is wrong, and a 500 naming
 * invalid_configuration stays so until someone fixes the hub's vars. Every
 * other cause may clear up by itself (the hub is starting, the network is
 * back), so the client keeps trying.
 */
export const isTerminalCause = (cause: ConnectionCause): boolean =>
  cause.kind === 'http' &&
  ((cause.status >= 400 && cause.status < 500 && cause.status !== 429) ||
    (cause.status === 500 && configIssues(cause.body) !== null));

/** The HubError for a cause: what `connect()` rejects with and what the `error` event carries. */
export const errorOfCause = (cause: ConnectionCause, url: string): HubError => {
  const init = (code: string, resolution: string, retryable: boolean) =>
    new HubError({ code, message: `Cannot connect to ${url}: ${cause.message}.`, resolution, retryable, cause });
  switch (cause.kind) {
    case 'refused':
      return init('connection_refused', `Is the hub running at ${hostOf(url)}? Start it with npm start.`, true);
    case 'dns':
      return init('dns_failure', `Check the host name in ${url}.`, true);
    case 'timeout':
      return init('connect_timeout', `Check that ${url} is a Signal Hub and reachable, or raise connectTimeoutMs.`, true);
    case 'closed': {
      const terminal = TERMINAL_CLOSES[cause.code];
      if (terminal) return init('connection_failed', terminal, false);
      return init(
        'connection_failed',
        cause.code === 1006
          ? `Check that the hub is running at ${hostOf(url)} (npm start) and that the path is /ws or /ws/<hub>.`
          : 'The client reconnects by itself.',
        true,
      );
    }
    case 'http': {
      const issues = cause.status === 500 ? configIssues(cause.body) : null;
      if (issues !== null) {
        return init(
          'invalid_configuration',
          `The hub's configuration is invalid: ${issues}; fix the [vars] (wrangler.toml, --var or .dev.vars) and restart the hub.`,
          false,
        );
      }
      if (cause.status === 404) return init('upgrade_refused', 'Check the URL path: /ws or /ws/<hub>.', false);
      if (cause.status === 426) return init('upgrade_refused', 'Connect with a WebSocket client to /ws or /ws/<hub>.', false);
      if (cause.status === 429) return init('upgrade_refused', 'Too many connections; the client retries with backoff.', true);
      const terminal = isTerminalCause(cause);
      return init(
        'upgrade_refused',
        terminal
          ? `The hub refused the upgrade with HTTP ${cause.status}; check the URL and credentials.`
          : `The hub answered HTTP ${cause.status}; the client retries with backoff.`,
        !terminal,
      );
    }
  }
};

/** What to fix after the close codes that end a client for good (see terminalReasonOfClose). */
const TERMINAL_CLOSES: Record<number, string> = {
  4400: "The hub speaks another major protocol version: use a client that matches the hub's.",
  4401: 'Pass a valid token (the token option), or refresh it before it expires.',
  4409: 'Another connection took over this address; only one connection may hold it.',
};

const hostOf = (url: string): string => {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}`;
  } catch {
    return url;
  }
};

/** The parts of `ws`'s handshake objects read here; `ws` itself is not a dependency of the client. */
interface UpgradeResponse {
  statusCode?: number;
  setEncoding?(encoding: string): void;
  on(event: 'data', fn: (chunk: string | Uint8Array) => void): void;
  on(event: 'end' | 'close', fn: () => void): void;
}
interface NodeStyleSocket {
  once(event: 'unexpected-response', fn: (req: unknown, res: UpgradeResponse) => void): void;
  terminate(): void;
}

/** How long to wait for a refused upgrade's body before giving up on it. */
const BODY_WAIT_MS = 1_000;

/**
 * Where the socket is `ws`'s (Node), listens for the HTTP answer to a
 * refused upgrade, reads up to HTTP_BODY_LIMIT of its body and reports it,
 * then terminates the socket; ws then emits error and close (1006) as for
 * any failed handshake. Without a listener ws would drop the response and
 * only say "Unexpected server response: <status>". Browsers have no such
 * event: nothing happens there.
 */
export const watchUpgradeRefusal = (socket: unknown, report: (cause: ConnectionCause) => void): void => {
  const s = socket as Partial<NodeStyleSocket>;
  if (typeof s.once !== 'function' || typeof s.terminate !== 'function') return;
  s.once('unexpected-response', (_req, res) => {
    let body = '';
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      report(httpCause(res.statusCode ?? 0, body.slice(0, HTTP_BODY_LIMIT)));
      s.terminate!();
    };
    const timer = setTimeout(finish, BODY_WAIT_MS);
    res.setEncoding?.('utf8');
    res.on('data', (chunk) => {
      body += typeof chunk === 'string' ? chunk : new TextDecoder().decode(chunk);
      if (body.length >= HTTP_BODY_LIMIT) finish();
    });
    res.on('end', finish);
    res.on('close', finish);
  });
};
