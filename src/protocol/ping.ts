/**
 * The keep-alive frames. The runtime answers PING_FRAME with PONG_FRAME
 * without waking the hub, which only works for this exact text, so every
 * side sends and compares these constants rather than building the JSON.
 */
export const PING_FRAME = '{"type":"ping"}';
export const PONG_FRAME = '{"type":"pong"}';
