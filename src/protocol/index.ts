/**
 * signal-hub-protocol: the wire protocol of Signal Hub as zod schemas and the
 * types inferred from them. Requests (`messages.ts`), everything the hub
 * sends (`replies.ts`), the envelope, the error catalogue, the keep-alive
 * frames and a typed request builder. No I/O and no server code: the hub,
 * the client and the tests all build on this.
 */
export * from './build';
export * from './envelope';
export * from './errors';
export * from './messages';
export * from './ping';
export * from './replies';
