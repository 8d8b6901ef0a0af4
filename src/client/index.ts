/**
 * Signal Hub client for browsers and Node 20. In Node, pass the `ws`
 * package's WebSocket as `options.WebSocket`; browsers use their own.
 */
export { HubClient } from './client';
export type {
  BroadcastOptions,
  ConnectOptions,
  HubClientEvents,
  HubClientOptions,
  RegisterOptions,
  RequestOptions,
  StateChange,
  Subscription,
} from './types';
export {
  backoffDelay,
  connectionMachine,
  DEFAULT_BACKOFF,
  terminalReasonOfClose,
  type BackoffPolicy,
  type ClosedReason,
  type ConnectionContext,
  type ConnectionEvent,
  type ConnectionInput,
  type ConnectionState,
  type TerminalReason,
} from './connection-machine';
export { Emitter } from './emitter';
export type { ConnectionCause } from './causes';
export { HubError, type ClientErrorCode } from './errors';
export type { SocketLike, WebSocketConstructor } from './socket';
export * from './types';
export { buildRequest, type BuildOptions } from '../protocol/build';
export { HUB_ADDRESS, PROTOCOL_VERSION, type Envelope } from '../protocol/envelope';
export type { Requests, RequestType } from '../protocol/messages';
