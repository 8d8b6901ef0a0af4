/**
 * The chat of examples/chat as a Node program: same room topics, so it talks
 * to the browser tabs.
 *
 *   npx tsx examples/node-chat.ts [hub-url] [name] [room]
 *   npx tsx examples/node-chat.ts ws://127.0.0.1:8787/ws/chat ada lobby
 *
 * Lines typed on stdin are published to the room; everything said in the
 * room is printed. Ctrl-D leaves.
 */
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { resolve } from 'node:path';
import WebSocket from 'ws';
// The source entry, not the directory: with a build present the directory would resolve to its package's dist.
import { HubClient } from '../src/client/index';

export interface ChatLine {
  name: string;
  text: string;
  from: string;
}

export interface Chat {
  client: HubClient;
  address: string;
  say(text: string): Promise<void>;
  leave(): Promise<void>;
}

export const startChat = async (options: {
  url: string;
  name: string;
  room?: string;
  onLine: (line: ChatLine) => void;
  onStatus?: (status: string) => void;
}): Promise<Chat> => {
  const room = options.room ?? 'lobby';
  const topic = `rooms/${room}`;
  const address = `@(chat/${options.name}-${Math.random().toString(36).slice(2, 8)})`;
  // ws's WebSocket is the one thing Node needs to pass in; browsers have their own.
  const client = new HubClient({ url: options.url, identity: address, WebSocket, capabilities: ['chat'] });
  client.on('state', ({ state, closedReason }) => options.onStatus?.(closedReason ? `${state} (${closedReason})` : state));
  client.on('error', (error) => options.onStatus?.(`error ${error.code}: ${error.message}`));

  await client.connect();
  await client.register(address, { capabilities: ['chat'], actorMetadata: { name: options.name, room } });
  await client.subscribe(topic, (message) => {
    // The browser tabs also publish chat.presence notices to the room; only chat lines are printed.
    if (message.type !== 'chat.message') return;
    const data = (message.payload ?? {}) as { name?: string; text?: string };
    options.onLine({ name: String(data.name ?? '?'), text: String(data.text ?? ''), from: message.from });
  });
  return {
    client,
    address,
    say: async (text) => {
      await client.publish(topic, 'chat.message', { name: options.name, text });
    },
    leave: () => client.disconnect(),
  };
};

const main = async () => {
  const [url = 'ws://127.0.0.1:8787/ws/chat', name = `node-${process.pid}`, room = 'lobby'] = process.argv.slice(2);
  const chat = await startChat({
    url,
    name,
    room,
    onLine: (line) => console.log(`${line.name}: ${line.text}`),
    onStatus: (status) => console.error(`[${status}]`),
  });
  console.error(`joined ${room} as ${chat.address}; type to talk, Ctrl-D to leave`);
  const input = createInterface({ input: process.stdin });
  for await (const line of input) {
    if (line.trim()) await chat.say(line.trim()).catch((err: Error) => console.error(`not sent: ${err.message}`));
  }
  await chat.leave();
};

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
