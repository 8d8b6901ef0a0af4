import { verifyToken } from './auth/jwt';
import { ConfigError, parseConfig, type HubConfig } from './config';
import { inspectorCredentials } from './core/inspection';
import { writeLog, type Env } from './hub-object';
import { PROTOCOL_VERSION, SERVER_VERSION, SERVICE_NAME } from './protocol/envelope';

export { SignalHub } from './hub-object';

const DEFAULT_HUB = 'default';
const HUB_NAME = /^[A-Za-z0-9_.-]{1,64}$/;

const json = (body: unknown, status = 200): Response =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });

/** Which hub a path reaches, or null when the path is not a WebSocket path. */
export const hubNameFor = (pathname: string): string | null => {
  if (pathname === '/' || pathname === '/ws' || pathname === '/ws/') return DEFAULT_HUB;
  return namedHub(/^\/ws\/([^/]+)\/?$/.exec(pathname));
};

/** Which hub an inspector path (`/inspect`, `/inspect/<name>`) watches, or null when it is not one. */
export const inspectHubNameFor = (pathname: string): string | null => {
  if (pathname === '/inspect' || pathname === '/inspect/') return DEFAULT_HUB;
  return namedHub(/^\/inspect\/([^/]+)\/?$/.exec(pathname));
};

const namedHub = (match: RegExpExecArray | null): string | null => {
  if (!match?.[1]) return null;
  let name: string;
  try {
    name = decodeURIComponent(match[1]);
  } catch {
    return null; // malformed percent-encoding is simply not a hub name
  }
  return HUB_NAME.test(name) ? name : null;
};

/** Vars are read and validated once per env object (once per isolate), not on every request. */
const parsed = new WeakMap<Env, HubConfig>();
const configOf = (env: Env): HubConfig => {
  let config = parsed.get(env);
  if (!config) {
    config = parseConfig(env);
    parsed.set(env, config);
  }
  return config;
};

export default {
  async fetch(request: Request, env: Env): Promise<Response> {
    const url = new URL(request.url);
    let config: HubConfig;
    try {
      config = configOf(env);
      // Auth on without a secret would let nobody in (or worse, accept tokens signed with ""): refuse to serve.
      if (config.authEnabled && !(typeof env.JWT_SECRET === 'string' && env.JWT_SECRET.length > 0)) {
        throw new ConfigError([{ path: 'JWT_SECRET', message: 'AUTH_ENABLED is true but the JWT_SECRET secret is not set' }]);
      }
    } catch (err) {
      if (err instanceof ConfigError) {
        writeLog({ level: 'error', event: 'config.invalid', issues: err.issues });
        return json({ status: 'error', error: 'invalid_configuration', issues: err.issues }, 500);
      }
      throw err;
    }

    if (url.pathname === '/health') {
      return json({
        status: 'ok',
        service: SERVICE_NAME,
        version: SERVER_VERSION,
        protocolVersion: PROTOCOL_VERSION,
        timestamp: Date.now(),
      });
    }

    const inspected = inspectHubNameFor(url.pathname);
    if (inspected !== null) return inspect(request, url, env, config, inspected);

    const hub = hubNameFor(url.pathname);
    if (hub === null) return json({ status: 'error', error: 'not_found', path: url.pathname }, 404);
    if (request.headers.get('Upgrade')?.toLowerCase() !== 'websocket') {
      return json({ status: 'error', error: 'upgrade_required', message: 'Connect with a WebSocket upgrade.' }, 426);
    }
    const stub = env.SIGNAL_HUB.get(env.SIGNAL_HUB.idFromName(hub));
    return stub.fetch(request);
  },
} satisfies ExportedHandler<Env>;

/**
 * The /inspect endpoint: absent (404) unless INSPECT_ENABLED, and with auth on
 * it takes only a verified JWT, checked here so a refused inspector never
 * wakes the hub's object.
 */
const inspect = async (request: Request, url: URL, env: Env, config: HubConfig, hub: string): Promise<Response> => {
  if (!config.inspectEnabled) return json({ status: 'error', error: 'not_found', path: url.pathname }, 404);
  if (config.authEnabled) {
    const { token } = inspectorCredentials(url, request.headers.get('Sec-WebSocket-Protocol'));
    const verdict = await verifyToken(token, String(env.JWT_SECRET), Date.now());
    if (!verdict.ok) {
      return json(
        {
          status: 'error',
          error: 'unauthorized',
          reason: verdict.reason,
          message: 'Inspecting needs a valid JWT in the token query parameter or a Sec-WebSocket-Protocol entry.',
        },
        401,
      );
    }
  }
  if (request.headers.get('Upgrade')?.toLowerCase() !== 'websocket') {
    return json({ status: 'error', error: 'upgrade_required', message: 'Connect with a WebSocket upgrade.' }, 426);
  }
  return env.SIGNAL_HUB.get(env.SIGNAL_HUB.idFromName(hub)).fetch(request);
};
