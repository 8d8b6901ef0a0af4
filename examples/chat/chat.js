// A chat room on top of Signal Hub's publish/subscribe, using the client
// bundle built by `npm run build:client` (./client.js). Every tab registers
// its own address, subscribes to the room's topic and publishes what the user
// types; the hub echoes each publication to every subscriber, the sender
// included, so every tab shows the same conversation in the same order.
import { HubClient } from './client.js';

const params = new URLSearchParams(location.search);
const hubUrl = params.get('hub') ?? 'ws://127.0.0.1:8787/ws/chat';
const room = (params.get('room') ?? 'lobby').replace(/[^A-Za-z0-9_.:-]/g, '-');
const name = (params.get('name') ?? `guest-${Math.floor(Math.random() * 10000)}`).replace(/[()]/g, '');
// A random suffix: two tabs with the same name must not take over each other's address.
const address = `@(chat/${name}-${Math.random().toString(36).slice(2, 8)})`;
const topic = `rooms/${room}`;

const $ = (id) => document.getElementById(id);
$('me').textContent = name;
$('room').textContent = room;

const show = (text, kind) => {
  const item = document.createElement('li');
  item.textContent = text;
  if (kind) item.className = kind;
  $('messages').append(item);
  item.scrollIntoView({ block: 'end' });
  return item;
};

const client = new HubClient({ url: hubUrl, identity: address, capabilities: ['chat'] });

client.on('state', ({ state, closedReason }) => {
  const status = $('status');
  status.dataset.state = state;
  status.textContent = closedReason ? `${state} (${closedReason})` : state;
  const usable = state === 'connected';
  $('text').disabled = !usable && state !== 'reconnecting'; // typing while reconnecting is queued
  $('send').disabled = $('text').disabled;
});
client.on('restored', () => show('reconnected', 'system'));
client.on('error', (error) => show(`error: ${error.code}: ${error.message}`, 'system'));

const onPublication = (message) => {
  const data = message.payload ?? {};
  const item = show(`${data.name}: ${data.text}`, message.from === address ? 'mine' : undefined);
  item.dataset.from = data.name;
};

const start = async () => {
  await client.connect();
  await client.register(address, { capabilities: ['chat'], actorMetadata: { name, room } });
  await client.subscribe(topic, onPublication);
  const { actors } = await client.discover('chat/*', { capability: 'chat' });
  const others = actors.filter((a) => a.address !== address).map((a) => a.metadata.name ?? a.address);
  show(others.length ? `here already: ${others.join(', ')}` : 'nobody else here yet', 'system');
  document.body.dataset.ready = 'true';
};

$('compose').addEventListener('submit', (event) => {
  event.preventDefault();
  const text = $('text').value.trim();
  if (!text) return;
  $('text').value = '';
  client.publish(topic, 'chat.message', { name, text }).catch((error) => show(`not sent: ${error.message}`, 'system'));
});

addEventListener('pagehide', () => void client.disconnect());

start().catch((error) => show(`could not join: ${error.code ?? ''} ${error.message}`, 'system'));
