/**
 * signal-hub-server: the hub for a Worker of your own. Subclass `SignalHub`
 * for hooks (or export it as it is), bind it as SIGNAL_HUB, and let
 * `routeSignalHubRequest` answer the hub's routes before your own:
 *
 *     export class Hub extends SignalHub { ... hooks ... }
 *     export { HubDirectory };
 *     export default {
 *       async fetch(request, env) {
 *         return (await routeSignalHubRequest(request, env)) ?? myRoutes(request, env);
 *       },
 *     };
 *
 * The wire protocol (schemas, types, errors) is the signal-hub-protocol
 * package; this one is the server around it.
 */
export { SignalHub, type ConnectContext, type Env } from '../hub-object';
export { HubDirectory } from '../ops/directory';
export { routeSignalHubRequest, hubNameFor, inspectHubNameFor, type RouteOptions } from './route';
export type { CloseInfo, ConnectClaim, ConnectRefusal, HubConnection, RuntimeHooks } from '../runtime/hooks';
export type { Envelope } from '../protocol/envelope';
export type { HubConfig } from '../config';
