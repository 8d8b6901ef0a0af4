import { verifyToken } from './auth/jwt';
import { ConfigError, parseEnv, type HubConfig } from './config';
import { inspectorCredentials } from './core/inspection';
import { DEFAULT_HUB, namedHub } from './hub-name';
import { writeLog, type Env } from './hub-object';
import { HUB_NAME_HEADER } from './ops/directory';
import { isOperator, operatorToken } from './ops/operator-auth';
import { operatorRoute } from './ops/routes';
import { PROTOCOL_VERSION, SERVER_VERSION, SERVICE_NAME } from './protocol/envelope';

export { SignalHub } from './hub-object';
export { HubDirectory } from './ops/directory';


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

/**
 * Vars are read and validated once per env object (once per isolate), not on
 * every request; an invalid config is remembered too, so `config.invalid` is
 * logged once per isolate rather than once per request.
 */
const parsed = new WeakMap<Env, HubConfig | ConfigError>();
const configOf = (env: Env): HubConfig => {
  let config = parsed.get(env);
  if (!config) {
    try {
      config = parseEnv(env);
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      config = err;
      writeLog({ level: 'error', event: 'config.invalid', issues: err.issues });
    }
    parsed.set(env, config);
  }
  if (config instanceof ConfigError) throw config;
  return config;
};

const isHealthPath = (pathname: string): boolean => pathname === '/health' || pathname.startsWith('/health/');

export default {
  async fetch(request: Request, env: Env): Promise<Response> {
    const url = new URL(request.url);
    let config: HubConfig;
    try {
      config = configOf(env);
    } catch (err) {
      if (err instanceof ConfigError) {
        // A health check is answered "unavailable", which is what load balancers and probes act on.
        const status = isHealthPath(url.pathname) ? 503 : 500;
        return json({ status: 'error', error: 'invalid_configuration', issues: err.issues }, status);
      }
      throw err;
    }

    const operator = await operatorRoute(request, url, env, config);
    if (operator) return operator;

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
    // The object learns its own name from this header (for the hub directory); a client's own value is replaced.
    const forwarded = new Request(request);
    forwarded.headers.set(HUB_NAME_HEADER, hub);
    return stub.fetch(forwarded);
  },
} satisfies ExportedHandler<Env>;

/**
 * The /inspect endpoint: absent (404) unless INSPECT_ENABLED, and with auth on
 * it takes only a verified JWT, checked here so a refused inspector never
 * wakes the hub's object.
 */
const inspect = async (request: Request, url: URL, env: Env, config: HubConfig, hub: string): Promise<Response> => {
  if (!config.inspectEnabled) return json({ status: 'error', error: 'not_found', path: url.pathname }, 404);
  // The operator (the dashboard's cookie, or a bearer token) may watch without a JWT.
  const token = operatorToken(env);
  const operator = token !== null && (await isOperator(request, token, true));
  if (config.authEnabled && !operator) {
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
