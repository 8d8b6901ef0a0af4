import type { Env } from './hub-object';
import { routeSignalHubRequest, unroutedResponse } from './hub/route';

export { SignalHub } from './hub-object';
export { HubDirectory } from './ops/directory';
export { hubNameFor, inspectHubNameFor } from './hub/route';

/** The stand-alone hub: every route is the hub's (src/hub/route.ts); a user's own Worker mounts it the same way. */
export default {
  async fetch(request: Request, env: Env): Promise<Response> {
    return (await routeSignalHubRequest(request, env)) ?? unroutedResponse(request, env);
  },
} satisfies ExportedHandler<Env>;
