import { afterAll, afterEach } from 'vitest';
import type { DevServer } from '../../../harness/net/dev-server';
import type { WsTestClient } from '../../../harness/net/ws-client';

/**
 * What every e2e file with one `wrangler dev` server does around its tests:
 * after each test, end the clients it opened and, if it failed, print the
 * tail of the runtime's output (the first thing to read); after the file,
 * stop the server. `server` is read late, since `beforeAll` starts it.
 */
export const tidyDevServerTests = (open: WsTestClient[], server: () => DevServer | undefined): void => {
  afterEach((ctx) => {
    for (const client of open.splice(0)) client.terminate();
    if (ctx.task.result?.state === 'fail') console.error(`--- wrangler output (tail) ---\n${server()?.output().slice(-6_000)}`);
  });
  afterAll(async () => {
    await server()?.stop();
  });
};
