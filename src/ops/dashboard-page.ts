/**
 * The dashboard's stylesheet and browser script, kept apart from the page
 * shell in dashboard.ts. The script is plain ES2020 for the browser: it reads
 * the embedded machine definition, follows /inspect/<hub> for live sessions,
 * and polls /metrics/<hub> and /dashboard/api/state/<hub>. Every value from
 * the hub is put in the page as text (textContent), never as markup.
 */

export const DASHBOARD_STYLE = String.raw`
body{font:14px system-ui,sans-serif;margin:0;color:#1d2330;background:#f5f6f8}
header{display:flex;gap:1.5rem;align-items:baseline;padding:.6rem 1rem;background:#1d2330;color:#fff}
header h1{font-size:1.1rem;margin:0}
#status{opacity:.8}
section{padding:.4rem 1rem}
h2{font-size:1rem;margin:.6rem 0 .3rem}
.gauges{display:flex;gap:.6rem;flex-wrap:wrap}
.gauge{background:#fff;border-radius:6px;padding:.4rem .8rem;min-width:7rem;box-shadow:0 1px 2px #0002}
.gauge b{display:block;font-size:1.4rem}
.charts{display:flex;gap:.8rem;flex-wrap:wrap}
figure{margin:0;background:#fff;border-radius:6px;padding:.4rem;box-shadow:0 1px 2px #0002}
figcaption{font-size:.8rem;color:#555}
.chart{width:300px;height:60px}
.chart polyline{fill:none;stroke:#2a6fdb;stroke-width:1.5}
.chart text{font-size:10px;fill:#333}
#sessions{display:flex;gap:.8rem;flex-wrap:wrap}
.session{background:#fff;border-radius:6px;padding:.5rem;box-shadow:0 1px 2px #0002;width:430px}
.session.done{opacity:.55}
.session h3{font-size:.9rem;margin:0 0 .3rem;font-weight:600}
.session .meta{font-size:.8rem;color:#555}
.statechart{width:420px;height:175px}
.state-node rect{fill:#eef1f6;stroke:#8a94a6;rx:6}
.state-node text{font-size:11px;text-anchor:middle;dominant-baseline:middle}
.state-node.current rect{fill:#2a6fdb;stroke:#174ea6}
.state-node.current text{fill:#fff;font-weight:600}
.edge{stroke:#9aa3b2;stroke-width:1;fill:none;marker-end:url(#arrow)}
.events{font:12px ui-monospace,monospace;margin:.3rem 0 0;padding-left:0;list-style:none;max-height:9.5rem;overflow:auto}
.tables{display:flex;gap:2rem;flex-wrap:wrap}
table{border-collapse:collapse;background:#fff;min-width:18rem}
td,th{padding:.2rem .6rem;border-bottom:1px solid #e3e6eb;text-align:left;font-size:.85rem}
.note{color:#8a5a00}
`;

export const DASHBOARD_SCRIPT = String.raw`
(() => {
  'use strict';
  const machine = JSON.parse(document.getElementById('machine').textContent);
  const settings = JSON.parse(document.getElementById('settings').textContent);
  const $ = (id) => document.getElementById(id);
  const el = (tag, attrs, text) => {
    const svg = ['svg', 'rect', 'text', 'line', 'polyline', 'g', 'path', 'marker', 'defs', 'title'].includes(tag);
    const node = svg ? document.createElementNS('http://www.w3.org/2000/svg', tag) : document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
    if (text !== undefined) node.textContent = String(text);
    return node;
  };
  const POLL_MS = 2000;
  const KEEP_POINTS = 300; // ten minutes at one point every two seconds
  const EVENTS_SHOWN = 8;

  // ------------------------------------------------------------ the state chart
  const stateNames = Object.keys(machine.states);
  const LAYOUT = {
    connecting: [10, 72], registered: [150, 30], paused: [300, 8], 'rate-limited': [300, 72],
    suspended: [10, 132], closing: [150, 132], closed: [300, 132],
  };
  const W = 100, H = 28;
  // States the layout does not know (a future machine) go in a row at the bottom.
  stateNames.filter((s) => !LAYOUT[s]).forEach((s, i) => (LAYOUT[s] = [10 + i * 110, 132]));
  const targetsOf = (t) => {
    if (!t) return [];
    if (typeof t === 'string') return [t.replace(/^#[^.]+\./, '').replace(/^\./, '')];
    if (Array.isArray(t)) return t.flatMap(targetsOf);
    return targetsOf(t.target);
  };
  const edges = new Map();
  for (const from of stateNames) {
    for (const [event, def] of Object.entries(machine.states[from].on || {})) {
      for (const to of targetsOf(def)) {
        if (to === from || !LAYOUT[to]) continue;
        const key = from + '>' + to;
        if (!edges.has(key)) edges.set(key, { from, to, events: [] });
        edges.get(key).events.push(event);
      }
    }
  }
  /** Where the line from the centre of box a towards point (x, y) leaves the box. */
  const exitPoint = (a, x, y) => {
    const cx = a[0] + W / 2, cy = a[1] + H / 2, dx = x - cx, dy = y - cy;
    const scale = 1 / Math.max(Math.abs(dx) / (W / 2), Math.abs(dy) / (H / 2), 1e-9);
    return [cx + dx * scale, cy + dy * scale];
  };
  const chart = () => {
    const svg = el('svg', { class: 'statechart', viewBox: '0 0 420 175' });
    const defs = el('defs');
    const marker = el('marker', { id: 'arrow', viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 6, markerHeight: 6, orient: 'auto' });
    marker.appendChild(el('path', { d: 'M0,0 L10,5 L0,10 z', fill: '#9aa3b2' }));
    defs.appendChild(marker);
    svg.appendChild(defs);
    for (const e of edges.values()) {
      const a = LAYOUT[e.from], b = LAYOUT[e.to];
      const bend = edges.has(e.to + '>' + e.from) ? 4 : 0; // two-way pairs drawn side by side
      const [x1, y1] = exitPoint(a, b[0] + W / 2, b[1] + H / 2);
      const [x2, y2] = exitPoint(b, a[0] + W / 2, a[1] + H / 2);
      const nx = -(y2 - y1), ny = x2 - x1, len = Math.hypot(nx, ny) || 1;
      const line = el('line', {
        class: 'edge', x1: x1 + (nx / len) * bend, y1: y1 + (ny / len) * bend, x2: x2 + (nx / len) * bend, y2: y2 + (ny / len) * bend,
      });
      line.appendChild(el('title', {}, e.events.join(', ')));
      svg.appendChild(line);
    }
    for (const s of stateNames) {
      const [x, y] = LAYOUT[s];
      const g = el('g', { class: 'state-node', 'data-state': s });
      g.appendChild(el('rect', { x, y, width: W, height: H, rx: 6 }));
      g.appendChild(el('text', { x: x + W / 2, y: y + H / 2 }, s));
      svg.appendChild(g);
    }
    return svg;
  };

  // ------------------------------------------------------------ sessions from /inspect
  const sessions = new Map();
  let hub = new URLSearchParams(location.search).get('hub') || 'default';
  let socket = null;

  /** The request type a FRAME event names (its "request" field; absent on a frame that was not an envelope). */
  const requestTypeOf = (event) => (typeof event.request === 'string' ? event.request : null);
  const eventLabel = (event) => {
    const type = requestTypeOf(event);
    return type ? event.type + ' ' + type : event.type;
  };

  const sessionCard = (id) => {
    let s = sessions.get(id);
    if (s) return s;
    const card = el('div', { class: 'session', 'data-session-id': id });
    const title = el('h3');
    const meta = el('div', { class: 'meta' });
    const svg = chart();
    const list = el('ol', { class: 'events' });
    card.append(title, meta, svg, list);
    $('sessions').appendChild(card);
    s = { id, card, title, meta, svg, list, events: [], state: null, removeAt: null };
    sessions.set(id, s);
    return s;
  };
  const showSnapshot = (s, snapshot) => {
    const state = typeof snapshot.value === 'string' ? snapshot.value : JSON.stringify(snapshot.value);
    s.state = state;
    s.card.setAttribute('data-state', state);
    s.card.classList.toggle('done', snapshot.status === 'done');
    for (const node of s.svg.querySelectorAll('.state-node')) node.classList.toggle('current', node.getAttribute('data-state') === state);
    const ctx = snapshot.context || {};
    s.title.textContent = (ctx.identity || '(not connected)') + ' · ' + state;
    s.meta.textContent = 'session ' + s.id.slice(0, 8) + (ctx.capabilities && ctx.capabilities.length ? ' · ' + ctx.capabilities.join(', ') : '');
    if (snapshot.status === 'done' && s.removeAt === null) s.removeAt = Date.now() + 60000;
    $('session-count').textContent = '(' + [...sessions.values()].filter((x) => x.removeAt === null).length + ' open)';
  };
  const showEvent = (s, event, at) => {
    s.events.push({ label: eventLabel(event), at });
    s.events = s.events.slice(-EVENTS_SHOWN);
    s.list.replaceChildren(...s.events.map((e) => el('li', {}, new Date(Number(e.at)).toISOString().slice(11, 23) + ' ' + e.label)));
  };
  const onFrame = (frame) => {
    if (!frame || typeof frame.sessionId !== 'string') return;
    const s = sessionCard(frame.sessionId);
    if (frame.type === '@xstate.event') showEvent(s, frame.event, frame.createdAt);
    else if (frame.type === '@xstate.actor' || frame.type === '@xstate.snapshot') showSnapshot(s, frame.snapshot);
  };
  const connectInspector = () => {
    if (socket) socket.close();
    sessions.clear();
    $('sessions').replaceChildren();
    if (!settings.inspectEnabled) {
      $('inspect-note').textContent = 'Live sessions need INSPECT_ENABLED = true (docs/OPERATIONS.md, "Dashboard").';
      return;
    }
    const url = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/inspect/' + encodeURIComponent(hub);
    const ws = new WebSocket(url);
    socket = ws;
    ws.onopen = () => document.body.setAttribute('data-inspect', 'connected');
    ws.onmessage = (m) => {
      try {
        onFrame(JSON.parse(m.data));
      } catch (err) {
        console.warn('dashboard: unreadable inspection frame', err);
      }
    };
    ws.onclose = () => {
      if (socket !== ws) return;
      document.body.setAttribute('data-inspect', 'closed');
      $('inspect-note').textContent = 'Inspector disconnected; retrying in 5 s.';
      setTimeout(() => socket === ws && connectInspector(), 5000);
    };
  };

  // ------------------------------------------------------------ metrics and state polling
  /** Sums every sample of a family for this hub (over its other labels) from Prometheus text. */
  const sumsOf = (text) => {
    const sums = {};
    for (const line of text.split('\n')) {
      if (line === '' || line[0] === '#') continue;
      const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})?\s+(\S+)/.exec(line);
      if (!m) continue;
      if (!(m[2] || '').includes('hub="' + hub + '"')) continue;
      sums[m[1]] = (sums[m[1]] || 0) + Number(m[3]);
    }
    return sums;
  };
  const series = { frames: [], deliveries: [], errors: [] };
  let last = null;
  const drawChart = (id, points) => {
    const svg = $(id);
    const max = Math.max(1, ...points);
    // The x axis spans at least a minute, and grows to the whole ten minutes as points arrive.
    const span = Math.min(KEEP_POINTS, Math.max(30, points.length));
    const step = 300 / (span - 1);
    const offset = span - points.length;
    const coords = points.map((v, i) => ((offset + i) * step).toFixed(1) + ',' + (58 - (v / max) * 50).toFixed(1)).join(' ');
    svg.replaceChildren(el('polyline', { points: coords }), el('text', { x: 4, y: 10 }, 'now ' + (points.length ? points[points.length - 1].toFixed(1) : '0') + ' · max ' + max.toFixed(1) + ' · last ' + Math.ceil((span * POLL_MS) / 60000) + ' min'));
    svg.setAttribute('data-points', String(points.length));
    svg.setAttribute('data-last', points.length ? points[points.length - 1].toFixed(3) : '0');
  };
  const GAUGES = [
    ['sessions', 'signalhub_sessions'], ['actors', 'signalhub_registered_actors'], ['topics', 'signalhub_topics'],
    ['queued', 'signalhub_queued_deliveries'], ['paused', 'signalhub_paused_sessions'], ['frames in', 'signalhub_frames_received_total'],
    ['errors', 'signalhub_error_replies_total'],
  ];
  const pollMetrics = async () => {
    const res = await fetch('/metrics/' + encodeURIComponent(hub), { credentials: 'same-origin' });
    if (!res.ok) throw new Error('/metrics answered ' + res.status);
    const sums = sumsOf(await res.text());
    const now = Date.now();
    $('gauges').replaceChildren(...GAUGES.map(([label, name]) => {
      const g = el('div', { class: 'gauge', 'data-gauge': label });
      g.append(el('b', {}, sums[name] || 0), el('span', {}, label));
      return g;
    }));
    if (last) {
      const dt = (now - last.at) / 1000;
      const rate = (name) => Math.max(0, ((sums[name] || 0) - (last.sums[name] || 0)) / dt);
      const push = (key, v) => (series[key] = series[key].concat([v]).slice(-KEEP_POINTS));
      push('frames', rate('signalhub_frames_received_total'));
      push('deliveries', rate('signalhub_deliveries_total'));
      push('errors', rate('signalhub_error_replies_total'));
      drawChart('chart-frames', series.frames);
      drawChart('chart-deliveries', series.deliveries);
      drawChart('chart-errors', series.errors);
    }
    last = { at: now, sums };
  };
  const row = (...cells) => {
    const tr = el('tr');
    for (const c of cells) tr.appendChild(el('td', {}, c));
    return tr;
  };
  const pollState = async () => {
    const res = await fetch('/dashboard/api/state/' + encodeURIComponent(hub), { credentials: 'same-origin' });
    if (!res.ok) throw new Error('state answered ' + res.status);
    const state = await res.json();
    $('registry').tBodies[0].replaceChildren(...state.actors.map((a) => row(a.address, a.capabilities.join(', '))));
    $('topics').tBodies[0].replaceChildren(...state.topics.map((t) => row(t.topic, t.subscribers)));
  };
  const tick = async () => {
    try {
      await Promise.all([pollMetrics(), pollState()]);
      $('status').textContent = 'updated ' + new Date().toISOString().slice(11, 19) + ' UTC';
      document.body.setAttribute('data-polled', String(Number(document.body.getAttribute('data-polled') || 0) + 1));
    } catch (err) {
      $('status').textContent = String(err.message || err);
    }
    for (const [id, s] of sessions) if (s.removeAt !== null && s.removeAt < Date.now()) (s.card.remove(), sessions.delete(id));
  };

  const loadHubs = async () => {
    const res = await fetch('/dashboard/api/hubs', { credentials: 'same-origin' });
    const { hubs } = res.ok ? await res.json() : { hubs: [] };
    if (!hubs.includes(hub)) hubs.unshift(hub);
    $('hub').replaceChildren(...hubs.map((h) => el('option', h === hub ? { value: h, selected: '' } : { value: h }, h)));
  };
  $('hub').addEventListener('change', () => {
    hub = $('hub').value;
    history.replaceState(null, '', '?hub=' + encodeURIComponent(hub));
    last = null;
    series.frames = []; series.deliveries = []; series.errors = [];
    connectInspector();
  });

  loadHubs().finally(() => {
    connectInspector();
    tick();
    setInterval(tick, POLL_MS);
  });
})();
`;
