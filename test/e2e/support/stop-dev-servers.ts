import { afterAll } from 'vitest';
import { stopAllDevServers } from '../../../harness/net/dev-server';

/**
 * Setup file of the e2e project. Registered before the test file's own
 * hooks, so with vitest's stacked hook order it runs after them: a file's
 * own afterAll stops its servers first, and this only finds the servers it
 * could not reach, such as those still starting when its beforeAll timed
 * out. Left running, they load every later file of the run.
 */
afterAll(async () => {
  const left = await stopAllDevServers();
  if (left > 0) console.warn(`stopped ${left} wrangler dev server(s) the test file left running`);
}, 60_000);
