/** Rooms of many sessions: opened within the dev proxy's socket budget, kept alive while they fill, closed politely. */
import { PROXY_FDS_PER_SOCKET, socketHeadroom } from '../processes';
import { PING, drop, leave, pool, room, setupConcurrency, type Peer, type Room, type Target } from '../targets';
import type { Options } from '../options';

/**
 * Connects `size` recipients and a sender. The sender joins first, so the
 * object already exists when the recipients are counted.
 */
export const openRoom = async (t: Target, o: Options, label: string, size: number, beforeRecipients?: () => Promise<void>): Promise<Room> => {
  const headroom = socketHeadroom(t.procs);
  if (headroom !== null && size + 1 > headroom) {
    throw new Error(
      `${t.side} ${label}: ${size} sessions would exhaust wrangler's proxy (about ${PROXY_FDS_PER_SOCKET} file descriptors per WebSocket, room for about ${headroom} more); raise the open-files limit (ulimit -n) or use a smaller size`,
    );
  }
  const r = room(label);
  const sender = await t.join(r, 'sender');
  await beforeRecipients?.();
  const joined: Peer[] = [sender];
  // Connecting thousands of sessions can outlast the hub's heartbeat timeout
  // (60 s); runtime-answered pings keep the early ones alive meanwhile.
  const keepAlive = setInterval(() => {
    for (const p of joined) if (!p.client.closed) p.client.sendRaw(PING);
  }, 15_000);
  let outcome: Awaited<ReturnType<typeof pool<Peer>>>;
  try {
    outcome = await pool(size, setupConcurrency(o), async (i) => {
      const peer = await t.join(r, `r${i}`);
      joined.push(peer);
      return peer;
    });
  } finally {
    clearInterval(keepAlive);
  }
  const { results, failures } = outcome;
  drop(sender);
  results.forEach(drop);
  if (failures.length > 0) {
    await leave([sender, ...results], 30_000);
    throw new Error(`${t.side} ${label}: ${failures.length} of ${size} sessions failed to connect: ${failures[0]}`);
  }
  return { sender, recipients: results };
};

export const closeRoom = (room: Room) => leave([room.sender, ...room.recipients], 30_000);
