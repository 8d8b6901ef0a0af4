import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import worker from '../../src/index';
import type { Env } from '../../src/hub-object';
import { freshHub } from '../workerd/hub-client';

/**
 * With auth on, an inspector normally needs a hub JWT. The operator (the
 * dashboard's cookie, or a bearer token) is let in without one; anything else
 * still needs the JWT.
 */
describe('/inspect for the operator, auth on', () => {
  const operatorToken = 'inspect-operator-token-0123456789';
  const authEnv: Env = { ...env, AUTH_ENABLED: 'true', JWT_SECRET: 'inspect-test-secret', OPERATOR_TOKEN: operatorToken };
  const upgrade = (path: string, headers: Record<string, string> = {}) =>
    worker.fetch(new Request(`http://hub.test${path}`, { headers: { Upgrade: 'websocket', ...headers } }), authEnv);

  it('admits the dashboard cookie or the bearer token without a JWT', async () => {
    const hub = freshHub('inspect-operator');
    const ways: Record<string, string>[] = [{ Cookie: `theme=dark; signalhub_operator=${operatorToken}` }, { Authorization: `Bearer ${operatorToken}` }];
    for (const headers of ways) {
      const res = await upgrade(`/inspect/${hub}`, headers);
      expect(res.status).toBe(101);
      res.webSocket!.accept();
      res.webSocket!.close(1000, 'done');
    }
  });

  it('refuses a wrong operator token like a missing JWT (401)', async () => {
    const hub = freshHub('inspect-operator-bad');
    const wrong: Record<string, string>[] = [{ Cookie: 'signalhub_operator=guess-guess-guess-guess' }, { Authorization: 'Bearer guess-guess-guess-guess' }, {}];
    for (const headers of wrong) {
      const res = await upgrade(`/inspect/${hub}`, headers);
      expect(res.status).toBe(401);
      expect(res.webSocket).toBeNull();
    }
  });
});
