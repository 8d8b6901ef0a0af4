/**
 * The operator token (the OPERATOR_TOKEN secret) guards /metrics, deep
 * health, shutdown and the dashboard. Without the secret those routes do not
 * exist (404): nothing operational is ever open by default.
 *
 * Scrapers and scripts send `Authorization: Bearer <token>`. A browser on the
 * dashboard holds it in an HttpOnly cookie set by the dashboard's login form,
 * so the token never appears in a URL (and so in no request log); the cookie
 * is accepted only on GET routes and the /inspect upgrade, never on a request
 * that changes anything, which keeps shutdown safe from cross-site requests.
 */

export const OPERATOR_COOKIE = 'signalhub_operator';

export const operatorToken = (env: Record<string, unknown>): string | null =>
  typeof env.OPERATOR_TOKEN === 'string' && env.OPERATOR_TOKEN.length > 0 ? env.OPERATOR_TOKEN : null;

const encoder = new TextEncoder();

/** Compares digests in constant time, so the answer's timing says nothing about the token. */
const sameSecret = async (given: string, expected: string): Promise<boolean> => {
  const [a, b] = await Promise.all([
    crypto.subtle.digest('SHA-256', encoder.encode(given)),
    crypto.subtle.digest('SHA-256', encoder.encode(expected)),
  ]);
  const x = new Uint8Array(a);
  const y = new Uint8Array(b);
  let diff = 0;
  for (let i = 0; i < x.length; i++) diff |= x[i]! ^ y[i]!;
  return diff === 0;
};

export const bearerOf = (request: Request): string | null => {
  const match = /^Bearer\s+(.+)$/i.exec(request.headers.get('Authorization') ?? '');
  return match?.[1]?.trim() ?? null;
};

export const cookieOf = (request: Request): string | null => {
  for (const part of (request.headers.get('Cookie') ?? '').split(';')) {
    const [name, ...rest] = part.trim().split('=');
    if (name === OPERATOR_COOKIE) {
      try {
        return decodeURIComponent(rest.join('='));
      } catch {
        return null;
      }
    }
  }
  return null;
};

/** Whether the request carries the operator token; `allowCookie` only for requests that change nothing. */
export const isOperator = async (request: Request, expected: string, allowCookie: boolean): Promise<boolean> => {
  const given = bearerOf(request) ?? (allowCookie ? cookieOf(request) : null);
  return given !== null && (await sameSecret(given, expected));
};

export const checkToken = (given: string, expected: string): Promise<boolean> => sameSecret(given, expected);

export const loginCookie = (token: string, secure: boolean): string =>
  `${OPERATOR_COOKIE}=${encodeURIComponent(token)}; HttpOnly; SameSite=Strict; Path=/; Max-Age=43200${secure ? '; Secure' : ''}`;
