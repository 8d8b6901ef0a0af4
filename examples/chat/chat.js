// A chat room on top of Signal Hub's publish/subscribe, using the client
// bundle built by `npm run build:client` (./client.js). Every tab registers
// its own address (with its name and room as metadata), subscribes to the
// room's topic and publishes what the user types; the hub echoes each
// publication to every subscriber, the sender included, so every tab shows
// the same conversation in the same order.
//
// Who is in the room comes from the hub's registry: `discover` of the chat
// addresses, filtered by room, when joining and every few seconds after, so
// a tab that closed without a word (or a Node client, which says nothing on
// joining) still shows up and goes away. Tabs also publish a presence
// message on joining and leaving, so those changes show at once.

const params = new URLSearchParams(location.search);
const hubUrl = params.get('hub') ?? 'ws://127.0.0.1:8787/ws/chat';
const room = (params.get('room') ?? 'lobby').replace(/[^A-Za-z0-9_.:-]/g, '-');
const name = (params.get('name') ?? `guest-${Math.floor(Math.random() * 10000)}`).replace(/[()]/g, '');
// A random suffix: two tabs with the same name must not take over each other's address.
const address = `@(chat/${name}-${Math.random().toString(36).slice(2, 8)})`;
const topic = `rooms/${room}`;
const MEMBERS_REFRESH_MS = 3000;

const $ = (id) => document.getElementById(id);
$('me').textContent = name;
$('room').textContent = room;

const clock = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });

/** Appends a line with its time; keeps the pane at the bottom unless the reader scrolled up. */
const show = (text, { kind, who, at = Date.now() } = {}) => {
  const pane = $('messages');
  const atBottom = pane.scrollHeight - pane.scrollTop - pane.clientHeight < 40;
  const item = document.createElement('li');
  if (kind) item.className = kind;
  const time = document.createElement('time');
  time.dateTime = new Date(at).toISOString();
  time.textContent = clock.format(at);
  const body = document.createElement('span');
  body.className = 'text';
  if (who) {
    const whoEl = document.createElement('span');
    whoEl.className = 'who';
    whoEl.textContent = who;
    body.append(whoEl, document.createTextNode(' '));
  }
  body.append(document.createTextNode(text));
  item.append(time, body);
  pane.append(item);
  if (atBottom) pane.scrollTop = pane.scrollHeight;
  return item;
};

/** The red line under the header: what is wrong right now, in words, or nothing. */
const notice = (text) => {
  $('notice').textContent = text ?? '';
};

// ------------------------------------------------------------------ members

/** address -> name of everyone known to be in this room. */
const members = new Map();

const renderMembers = () => {
  const list = $('member-list');
  list.replaceChildren(
    ...[...members.entries()]
      .sort(([, a], [, b]) => a.localeCompare(b))
      .map(([addr, who]) => {
        const li = document.createElement('li');
        li.textContent = addr === address ? `${who} (you)` : who;
        if (addr === address) li.className = 'me';
        return li;
      }),
  );
};

const joined = (addr, who, { quiet = false } = {}) => {
  if (members.has(addr)) return;
  members.set(addr, who);
  if (!quiet && addr !== address) show(`${who} joined`, { kind: 'system' });
  renderMembers();
};

const left = (addr) => {
  const who = members.get(addr);
  if (who === undefined || addr === address) return;
  members.delete(addr);
  show(`${who} left`, { kind: 'system' });
  renderMembers();
};

// ------------------------------------------------------------------ why not connected

/**
 * The client's `cause` in words. In a browser it is almost always `closed`
 * with code 1006: the browser tells a page nothing about why a WebSocket
 * failed (refused, wrong path, broken hub all look the same), and the
 * message says so. In Node the client knows more (refused, dns, http).
 */
const whyNot = (cause, everConnected) => {
  switch (cause?.kind) {
    case 'refused':
      return `hub unreachable: connection refused at ${hubUrl}. Start it with npm start`;
    case 'dns':
      return `hub unreachable: ${cause.message}`;
    case 'http':
      return `hub refused the connection: HTTP ${cause.status}${cause.body ? ` ${cause.body.slice(0, 200)}` : ''}`;
    case 'timeout':
      return `hub not answering at ${hubUrl}: ${cause.message}`;
    default: {
      const message = cause?.message ?? 'the connection closed';
      return everConnected
        ? `connection lost: ${message}`
        : `hub unreachable: ${hubUrl}: ${message}. Is it running? Start it with npm start`;
    }
  }
};

// ------------------------------------------------------------------ start

const start = async () => {
  let HubClient;
  try {
    ({ HubClient } = await import('./client.js'));
  } catch {
    const text = 'client.js missing: run npm run build:client, then reload';
    notice(text);
    show(text, { kind: 'system problem' });
    document.body.dataset.problem = 'client-missing';
    $('status').textContent = 'not started';
    return;
  }

  const client = new HubClient({ url: hubUrl, identity: address, capabilities: ['chat'] });
  let everConnected = false;
  let outage = null;

  client.on('state', ({ state, closedReason }) => {
    const status = $('status');
    status.dataset.state = state;
    status.textContent = closedReason ? `${state} (${closedReason})` : state;
    $('text').disabled = state !== 'connected' && state !== 'reconnecting'; // typing while reconnecting is queued
    $('send').disabled = $('text').disabled;
    if (state === 'connected') {
      if (outage) show('connected to the hub again', { kind: 'system' });
      outage = null;
      notice(null);
      document.body.dataset.problem = '';
    }
  });
  client.on('disconnected', ({ willReconnect, cause }) => {
    const text = `${whyNot(cause, everConnected)}${willReconnect ? '; retrying…' : ''}`;
    notice(text);
    if (!outage) show(text, { kind: 'system problem' });
    outage = text;
    document.body.dataset.problem = everConnected ? 'connection-lost' : 'unreachable';
  });
  // Failed connection attempts carry a cause and are already on the notice line; other errors get a line each.
  client.on('error', (error) => {
    if (!error.cause) show(`error: ${error.code}: ${error.message}`, { kind: 'system problem' });
  });

  const refreshMembers = async () => {
    const { actors } = await client.discover('chat/*', { capability: 'chat', limit: 100 });
    const here = new Map(
      actors.filter((a) => a.metadata?.room === room).map((a) => [a.address, String(a.metadata?.name ?? a.address)]),
    );
    for (const [addr, who] of here) joined(addr, who);
    for (const addr of [...members.keys()]) if (!here.has(addr)) left(addr);
  };

  client.on('restored', () => void refreshMembers().catch(() => undefined));

  const onRoomMessage = (message) => {
    const data = message.payload ?? {};
    if (message.type === 'chat.presence') {
      if (data.state === 'join') joined(message.from, String(data.name));
      else if (data.state === 'leave') left(message.from);
      return;
    }
    if (message.type !== 'chat.message') return;
    const item = show(String(data.text ?? ''), {
      who: `${data.name}:`,
      kind: message.from === address ? 'mine' : undefined,
      at: typeof message.timestamp === 'number' ? message.timestamp : Date.now(),
    });
    item.dataset.from = data.name;
  };

  await client.connect();
  everConnected = true;
  await client.register(address, { capabilities: ['chat'], actorMetadata: { name, room } });
  await client.subscribe(topic, onRoomMessage);
  members.set(address, name);
  const { actors } = await client.discover('chat/*', { capability: 'chat', limit: 100 });
  for (const a of actors) if (a.metadata?.room === room) joined(a.address, String(a.metadata?.name ?? a.address), { quiet: true });
  const others = [...members.entries()].filter(([addr]) => addr !== address).map(([, who]) => who);
  show(others.length ? `you joined ${room}; here already: ${others.join(', ')}` : `you joined ${room}; nobody else here yet`, {
    kind: 'system',
  });
  renderMembers();
  await client.publish(topic, 'chat.presence', { name, state: 'join' });
  setInterval(() => void refreshMembers().catch(() => undefined), MEMBERS_REFRESH_MS);

  $('compose').addEventListener('submit', (event) => {
    event.preventDefault();
    const text = $('text').value.trim();
    if (!text) return;
    $('text').value = '';
    client.publish(topic, 'chat.message', { name, text }).catch((error) => show(`not sent: ${error.message}`, { kind: 'system problem' }));
  });

  addEventListener('pagehide', () => {
    // Best effort: the hub releases the registration when the socket closes anyway.
    void client.publish(topic, 'chat.presence', { name, state: 'leave' }).catch(() => undefined);
    void client.disconnect();
  });
  $('text').focus();
  document.body.dataset.ready = 'true';
};

start().catch((error) => {
  // connect() rejected (a refusal retrying cannot fix) or a first request failed: say what to fix.
  const text = `could not join: ${error.message}${error.resolution ? ` ${error.resolution}` : ''}`;
  notice(text);
  show(text, { kind: 'system problem' });
  document.body.dataset.problem = 'could-not-join';
});
