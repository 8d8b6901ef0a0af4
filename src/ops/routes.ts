import type { HubConfig } from '../config';
import type { Env } from '../hub-object';
import { DEFAULT_HUB, namedHub } from '../hub-name';
import { dashboardPage, loginPage } from './dashboard';
import { directoryOf } from './directory';
import { EXPOSITION_CONTENT_TYPE, renderMetrics, type ScrapedHub } from './metrics-text';
import { OPS_PREFIX } from './object-ops';
import { checkToken, isOperator, loginCookie, operatorToken } from './operator-auth';
import type { HubSnapshot } from './snapshot';

/**
 * The Worker's operator routes: /metrics[/<hub>], /health/<hub> (and
 * /health?deep=1 for the default hub), POST /admin/shutdown[/<hub>] and the
 * dashboard. Each asks the hub's Durable Object under OPS_PREFIX; the Worker
 * only checks the token, fans out and formats.
 */


type Route =
  | { kind: 'metrics'; hub: string | null }
  | { kind: 'health'; hub: string }
  | { kind: 'shutdown'; hub: string | null }
  | { kind: 'dashboard' }
  | { kind: 'dashboard-hubs' }
  | { kind: 'dashboard-state'; hub: string };

const HUB_SEGMENT = '([^/]+)';

/** null: not an operator path (or a malformed hub name, which the caller answers 404 like any unknown path). */
export const operatorRouteOf = (url: URL): Route | null => {
  const p = url.pathname.replace(/\/$/, '') || '/';
  const hubAfter = (prefix: string): string | null => namedHub(new RegExp(`^${prefix}/${HUB_SEGMENT}$`).exec(p));
  if (p === '/metrics') return { kind: 'metrics', hub: null };
  if (p === '/admin/shutdown') return { kind: 'shutdown', hub: null };
  if (p === '/health') return url.searchParams.get('deep') === '1' ? { kind: 'health', hub: DEFAULT_HUB } : null;
  if (p === '/dashboard') return { kind: 'dashboard' };
  if (p === '/dashboard/api/hubs') return { kind: 'dashboard-hubs' };
  const metrics = hubAfter('/metrics');
  if (metrics) return { kind: 'metrics', hub: metrics };
  const health = hubAfter('/health');
  if (health) return { kind: 'health', hub: health };
  const shutdown = hubAfter('/admin/shutdown');
  if (shutdown) return { kind: 'shutdown', hub: shutdown };
  const state = hubAfter('/dashboard/api/state');
  if (state) return { kind: 'dashboard-state', hub: state };
  return null;
};

const json = (body: unknown, status = 200, headers: Record<string, string> = {}): Response =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json', ...headers } });

const notFound = (url: URL): Response => json({ status: 'error', error: 'not_found', path: url.pathname }, 404);

const unauthorized = (): Response =>
  json(
    { status: 'error', error: 'unauthorized', message: 'Send the operator token as Authorization: Bearer <OPERATOR_TOKEN>.' },
    401,
    { 'WWW-Authenticate': 'Bearer realm="signal-hub"' },
  );

/** How long one hub may take to answer a scrape before it is reported as down. */
const HUB_TIMEOUT_MS = 5_000;
/** Hubs asked at once during a scrape of every hub. */
const SCRAPE_CONCURRENCY = 8;

const askHub = async (env: Env, hub: string, what: string, method = 'GET'): Promise<Response> => {
  const stub = env.SIGNAL_HUB.get(env.SIGNAL_HUB.idFromName(hub));
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<Response>((done) => {
    timer = setTimeout(() => done(json({ status: 'error', error: 'timeout', hub }, 504)), HUB_TIMEOUT_MS);
  });
  try {
    return await Promise.race([stub.fetch(`https://signal-hub${OPS_PREFIX}${what}`, { method }), timeout]);
  } finally {
    clearTimeout(timer);
  }
};

/** Runs `task` over `items`, at most `limit` at a time, keeping the order. */
const mapLimited = async <T, R>(items: T[], limit: number, task: (item: T) => Promise<R>): Promise<R[]> => {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await task(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
};

const knownHubs = async (env: Env): Promise<string[]> => (await directoryOf(env)?.list()) ?? [];

const scrape = async (env: Env, hub: string): Promise<ScrapedHub> => {
  try {
    const res = await askHub(env, hub, 'metrics');
    return { hub, snapshot: res.ok ? ((await res.json()) as HubSnapshot) : null };
  } catch {
    return { hub, snapshot: null };
  }
};

const metrics = async (env: Env, hub: string | null): Promise<Response> => {
  const hubs = hub !== null ? [hub] : await knownHubs(env);
  const scraped = await mapLimited(hubs, SCRAPE_CONCURRENCY, (h) => scrape(env, h));
  return new Response(renderMetrics(scraped), { headers: { 'content-type': EXPOSITION_CONTENT_TYPE, 'cache-control': 'no-store' } });
};

const shutdown = async (env: Env, hub: string | null): Promise<Response> => {
  const hubs = hub !== null ? [hub] : await knownHubs(env);
  const results = await mapLimited(hubs, SCRAPE_CONCURRENCY, async (h) => {
    const res = await askHub(env, h, 'shutdown', 'POST');
    return { ok: res.ok, answer: { hub: h, ...((await res.json()) as Record<string, unknown>) } };
  });
  const ok = results.every((r) => r.ok);
  return json({ status: ok ? 'ok' : 'error', hubs: results.map((r) => r.answer) }, ok ? 200 : 502);
};

/** Passes the object's answer on, adding which hub it is about. */
const relay = async (res: Response, hub: string): Promise<Response> =>
  json({ hub, ...((await res.json()) as Record<string, unknown>) }, res.status);

export const operatorRoute = async (request: Request, url: URL, env: Env, config: HubConfig): Promise<Response | null> => {
  const route = operatorRouteOf(url);
  if (!route) return null;
  const token = operatorToken(env);
  if (token === null) return notFound(url);
  const reading = request.method === 'GET' || request.method === 'HEAD';

  if (route.kind === 'dashboard') {
    if (request.method === 'POST') return login(request, url, token);
    if (!(await isOperator(request, token, true))) return loginPage(401);
    return dashboardPage(config);
  }
  if (route.kind === 'shutdown') {
    if (request.method !== 'POST') return json({ status: 'error', error: 'method_not_allowed', allow: 'POST' }, 405, { Allow: 'POST' });
    if (!(await isOperator(request, token, false))) return unauthorized();
    return shutdown(env, route.hub);
  }
  if (!reading) return json({ status: 'error', error: 'method_not_allowed', allow: 'GET' }, 405, { Allow: 'GET' });
  if (!(await isOperator(request, token, true))) return unauthorized();
  switch (route.kind) {
    case 'metrics':
      return metrics(env, route.hub);
    case 'health':
      return relay(await askHub(env, route.hub, 'health'), route.hub);
    case 'dashboard-hubs':
      return json({ hubs: await knownHubs(env), inspectEnabled: config.inspectEnabled });
    case 'dashboard-state':
      return relay(await askHub(env, route.hub, 'state'), route.hub);
  }
};

/** The dashboard's login form posts the token; a right one becomes the HttpOnly cookie. */
const login = async (request: Request, url: URL, token: string): Promise<Response> => {
  const form = await request.formData().catch(() => null);
  const given = form?.get('token');
  if (typeof given !== 'string' || !(await checkToken(given, token))) return loginPage(401, 'That is not the operator token.');
  return new Response(null, {
    status: 303,
    headers: { Location: '/dashboard', 'Set-Cookie': loginCookie(given, url.protocol === 'https:'), 'cache-control': 'no-store' },
  });
};
