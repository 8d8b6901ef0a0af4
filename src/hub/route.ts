import { verifyToken } from '../auth/jwt';
import { ConfigError, parseEnv, type HubConfig } from '../config';
import { inspectorCredentials } from '../core/inspection';
import { DEFAULT_HUB, namedHub } from '../hub-name';
import type { Env } from '../hub-object';
import { HUB_NAME_HEADER } from '../ops/directory';
import { isOperator, operatorToken } from '../ops/operator-auth';
import { operatorRoute, operatorRouteOf } from '../ops/routes';
import { PROTOCOL_VERSION, SERVER_VERSION, SERVICE_NAME } from '../protocol/envelope';
import { writeLog } from '../runtime/console-log';

/**
 * The hub's HTTP routes, for any Worker: `/ws` and `/ws/<hub>` (WebSocket to
 * the hub's Durable Object, one per hub name; `/` is the default hub too),
 * `/health`, `/inspect[/<hub>]` and the operator routes (`/metrics`,
 * `/health/<hub>`, `/admin/shutdown`, `/dashboard`). A Worker of one's own
 * calls `routeSignalHubRequest` first and answers the `null` paths itself.
 */

export interface RouteOptions {
  /** Serve the operator routes (they answer 404 anyway unless OPERATOR_TOKEN is set); default true. */
  operatorRoutes?: boolean;
}

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
const parsed = new WeakMap<object, HubConfig | ConfigError>();
const configOf = (env: Env): HubConfig | ConfigError => {
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
  return config;
};

const isHealthPath = (pathname: string): boolean => pathname === '/health' || pathname.startsWith('/health/');

/** Whether a path is one of the hub's, whatever the request's method, headers or config. */
const isHubPath = (url: URL, options: RouteOptions): boolean =>
  hubNameFor(url.pathname) !== null ||
  inspectHubNameFor(url.pathname) !== null ||
  isHealthPath(url.pathname) ||
  (options.operatorRoutes !== false && operatorRouteOf(url) !== null);

/** A broken config: health checks are answered "unavailable", which is what load balancers and probes act on. */
const configRefusal = (err: ConfigError, pathname: string): Response =>
  json({ status: 'error', error: 'invalid_configuration', issues: err.issues }, isHealthPath(pathname) ? 503 : 500);

/**
 * The hub's answer to a request on one of its routes, or null when the path
 * is not the hub's (the caller's own routes). `env` must bind the hub's
 * Durable Object class (SignalHub or a subclass) as SIGNAL_HUB, and may bind
 * HubDirectory as HUB_DIRECTORY for the operator routes over every hub.
 */
export const routeSignalHubRequest = async (request: Request, env: Env, options: RouteOptions = {}): Promise<Response | null> => {
  const url = new URL(request.url);
  if (!isHubPath(url, options)) return null;
  const config = configOf(env);
  if (config instanceof ConfigError) return configRefusal(config, url.pathname);

  if (options.operatorRoutes !== false) {
    const operator = await operatorRoute(request, url, env, config);
    if (operator) return operator;
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
  if (hub === null) return notFound(url); // /health/<something> that is no operator route
  if (request.headers.get('Upgrade')?.toLowerCase() !== 'websocket') {
    return json({ status: 'error', error: 'upgrade_required', message: 'Connect with a WebSocket upgrade.' }, 426);
  }
  const stub = env.SIGNAL_HUB.get(env.SIGNAL_HUB.idFromName(hub));
  // The object learns its own name from this header (for the hub directory); a client's own value is replaced.
  const forwarded = new Request(request);
  forwarded.headers.set(HUB_NAME_HEADER, hub);
  return stub.fetch(forwarded);
};

const notFound = (url: URL): Response => json({ status: 'error', error: 'not_found', path: url.pathname }, 404);

/**
 * What the stand-alone hub Worker answers on a path that is not the hub's:
 * the config refusal if the vars are broken (the whole Worker is the hub),
 * 404 otherwise.
 */
export const unroutedResponse = (request: Request, env: Env): Response => {
  const url = new URL(request.url);
  const config = configOf(env);
  return config instanceof ConfigError ? configRefusal(config, url.pathname) : notFound(url);
};

/**
 * The /inspect endpoint: absent (404) unless INSPECT_ENABLED, and with auth on
 * it takes only a verified JWT, checked here so a refused inspector never
 * wakes the hub's object.
 */
const inspect = async (request: Request, url: URL, env: Env, config: HubConfig, hub: string): Promise<Response> => {
  if (!config.inspectEnabled) return notFound(url);
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
