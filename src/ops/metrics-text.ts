import { ACK_BUCKETS_MS, type OpsStats } from '../core/ops-stats';
import { PROTOCOL_VERSION, SERVER_VERSION } from '../protocol/envelope';
import type { HubSnapshot } from './snapshot';

/**
 * Renders hub snapshots in the Prometheus text exposition format 0.0.4
 * (https://prometheus.io/docs/instrumenting/exposition_formats/). Every
 * family is written once with all hubs' samples under it, as the format
 * requires, and every sample carries a `hub` label.
 */

export const EXPOSITION_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

export interface ScrapedHub {
  hub: string;
  /** null when the hub's object did not answer; only signalhub_up is written for it. */
  snapshot: HubSnapshot | null;
}

type Labels = Record<string, string>;
type Sample = { suffix?: string; labels?: Labels; value: number };

interface Family {
  name: string;
  type: 'counter' | 'gauge' | 'histogram';
  help: string;
  samples: (s: HubSnapshot) => Sample[];
}

/** A family of one sample per hub. */
const scalar = (name: string, type: 'counter' | 'gauge', help: string, get: (s: HubSnapshot) => number): Family => ({
  name,
  type,
  help,
  samples: (s) => [{ value: get(s) }],
});

const byLabel = (label: string, counts: Record<string, number> | undefined): Sample[] =>
  Object.entries(counts ?? {})
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([value, n]) => ({ labels: { [label]: value }, value: n }));

/**
 * A labelled family next to an older unlabelled total: what the total counted
 * before the labelled counts existed (an upgrade) shows as `unknown`, so the
 * labelled samples always add up to the total.
 */
const withRemainder = (label: string, counts: Record<string, number> | undefined, total: number): Sample[] => {
  const samples = byLabel(label, counts);
  const rest = total - samples.reduce((sum, s) => sum + s.value, 0);
  if (rest > 0) samples.push({ labels: { [label]: 'unknown' }, value: rest });
  return samples;
};

const ackHistogram = (ops: OpsStats | undefined): Sample[] => {
  const buckets = ops?.ackBuckets ?? [];
  const samples: Sample[] = [];
  let cumulative = 0;
  ACK_BUCKETS_MS.forEach((bound, i) => {
    cumulative += buckets[i] ?? 0;
    samples.push({ suffix: '_bucket', labels: { le: String(bound / 1000) }, value: cumulative });
  });
  cumulative += buckets[ACK_BUCKETS_MS.length] ?? 0;
  samples.push({ suffix: '_bucket', labels: { le: '+Inf' }, value: cumulative });
  samples.push({ suffix: '_sum', value: (ops?.ackSumMs ?? 0) / 1000 });
  samples.push({ suffix: '_count', value: cumulative });
  return samples;
};

const FAMILIES: Family[] = [
  {
    name: 'signalhub_sessions',
    type: 'gauge',
    help: 'Open sessions by session-machine state.',
    samples: (s) => byLabel('state', s.sessions),
  },
  scalar(
    'signalhub_paused_sessions',
    'gauge',
    'Sessions whose deliveries are held (hub:pause) or that the hub asked to slow down.',
    (s) => s.pausedSessions,
  ),
  scalar('signalhub_registered_actors', 'gauge', 'Live registry entries.', (s) => s.actors),
  scalar('signalhub_topics', 'gauge', 'Topics with at least one subscriber.', (s) => s.topics),
  scalar(
    'signalhub_queued_deliveries',
    'gauge',
    'Deliveries waiting in fan-out jobs, pause buffers and mailboxes of suspended sessions.',
    (s) => s.queuedDeliveries,
  ),
  scalar(
    'signalhub_session_attachment_max_bytes',
    'gauge',
    'Size of the largest session attachment; the runtime refuses attachments above 16 KiB.',
    (s) => s.maxAttachmentBytes,
  ),
  scalar('signalhub_connections_opened_total', 'counter', 'WebSocket sessions opened.', (s) => s.counters.connectionsOpened),
  {
    name: 'signalhub_connections_closed_total',
    type: 'counter',
    help: 'Sessions that started closing, by close reason (peer_closed: the client closed first).',
    samples: (s) => withRemainder('reason', s.counters.ops?.closes, s.counters.connectionsClosed),
  },
  {
    name: 'signalhub_mailbox_messages_total',
    type: 'counter',
    help: 'Messages for suspended sessions, by outcome (queued, delivered at resume, dropped_overflow, dropped_expired).',
    samples: (s) => byLabel('outcome', s.counters.ops?.mailbox),
  },
  scalar(
    'signalhub_frames_received_total',
    'counter',
    'Frames received from sessions, valid or not.',
    (s) => s.counters.messagesReceived,
  ),
  {
    name: 'signalhub_messages_received_total',
    type: 'counter',
    help: 'Valid envelopes received, by message type (other: not a hub request type).',
    samples: (s) => byLabel('type', s.counters.ops?.requests),
  },
  scalar(
    'signalhub_frames_sent_total',
    'counter',
    'Frames sent to sessions: replies, notices and deliveries.',
    (s) => s.counters.messagesSent,
  ),
  scalar(
    'signalhub_deliveries_total',
    'counter',
    'Messages handed to a recipient (sent or put in its pause buffer).',
    (s) => s.counters.messagesDelivered,
  ),
  {
    name: 'signalhub_error_replies_total',
    type: 'counter',
    help: 'Error replies sent, by error code.',
    samples: (s) => withRemainder('code', s.counters.ops?.errors, s.counters.errors),
  },
  scalar(
    'signalhub_frames_refused_total',
    'counter',
    'Frames answered with an error instead of being carried out (every error reply).',
    (s) => s.counters.errors,
  ),
  scalar(
    'signalhub_frames_rate_limited_total',
    'counter',
    'Frames refused because the session was over its rate limit.',
    (s) => s.counters.ops?.errors?.['rate_limited'] ?? 0,
  ),
  {
    name: 'signalhub_ask_ack_latency_seconds',
    type: 'histogram',
    help: 'Time from receiving an ask hub:send to sending its hub:delivery_ack.',
    samples: (s) => ackHistogram(s.counters.ops),
  },
  scalar(
    'signalhub_wakes_total',
    'counter',
    'Times the object was rebuilt with sessions open (after hibernation or eviction).',
    (s) => s.shell.wakes,
  ),
  scalar('signalhub_alarm_runs_total', 'counter', 'Alarm invocations.', (s) => s.shell.alarmRuns),
  scalar(
    'signalhub_unreadable_attachments_total',
    'counter',
    'Sessions closed with 1011 because their attachment could not be read back.',
    (s) => s.shell.unreadableAttachments,
  ),
  scalar(
    'signalhub_internal_errors_total',
    'counter',
    'Exceptions out of the hub core (hub.internal_error); request-level ones are error_replies{code="internal_error"}.',
    (s) => s.shell.internalErrors,
  ),
];

const escapeLabel = (v: string): string => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
const escapeHelp = (v: string): string => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');

const formatValue = (n: number): string => (Number.isFinite(n) ? String(n) : n > 0 ? '+Inf' : n < 0 ? '-Inf' : 'NaN');

const sampleLine = (name: string, labels: Labels, value: number): string => {
  const pairs = Object.entries(labels).map(([k, v]) => `${k}="${escapeLabel(v)}"`);
  return `${name}{${pairs.join(',')}} ${formatValue(value)}`;
};

export const renderMetrics = (hubs: ScrapedHub[]): string => {
  const lines: string[] = [];
  const family = (name: string, type: string, help: string) => lines.push(`# HELP ${name} ${escapeHelp(help)}`, `# TYPE ${name} ${type}`);

  family('signalhub_build_info', 'gauge', 'Always 1; the labels name the server and protocol version.');
  lines.push(sampleLine('signalhub_build_info', { version: SERVER_VERSION, protocol: PROTOCOL_VERSION }, 1));
  family('signalhub_up', 'gauge', 'Whether the hub object answered this scrape (1) or not (0).');
  for (const h of hubs) lines.push(sampleLine('signalhub_up', { hub: h.hub }, h.snapshot ? 1 : 0));

  for (const f of FAMILIES) {
    family(f.name, f.type, f.help);
    for (const h of hubs) {
      if (!h.snapshot) continue;
      for (const s of f.samples(h.snapshot)) lines.push(sampleLine(f.name + (s.suffix ?? ''), { hub: h.hub, ...s.labels }, s.value));
    }
  }
  return lines.join('\n') + '\n';
};
