import { MAX_DISCOVER_LIMIT, MAX_LIST_LIMIT } from '../protocol/messages';
import type { DiscoveredActor, ListedActor } from '../protocol/replies';
import { inScope } from './auth';
import { compileGlob } from './glob';
import type { HandlerTable, HubRequest } from './request';
import type { ActorRow } from './registry-store';
import { ReplyBudget, refuseRegistrationOverCap } from './limits';
import { refuseReservedRegistration } from './reserved';
import { isReachable } from './session';

/**
 * The actor registry (contract §5): who is reachable at which address, until
 * when, and with which capabilities. Rows live in durable storage; this module
 * holds the rules.
 */

const DEFAULT_LIST_LIMIT = 100;

const isLiveRow = (row: ActorRow | null, now: number): row is ActorRow => row !== null && row.expiresAt > now;

/**
 * The 0.1.0 renew: `payload: null`, the token in `metadata.renewalToken`, the
 * address in `from`, sent as a tell on every heartbeat with the token of the
 * first registration (those clients never learn the rotated one). The token
 * decides when it is current; otherwise the address in `from` does, if this
 * session holds it, since renewing one's own registration grants nothing.
 */
const legacyRenewTarget = (req: HubRequest): ActorRow | null => {
  const { registry } = req.turn.host;
  const token = req.envelope.metadata.renewalToken;
  const byToken = typeof token === 'string' && token.length > 0 ? registry.byRenewalToken(token) : null;
  if (isLiveRow(byToken, req.turn.now) && byToken.connId === req.session.connId) return byToken;
  return registry.get(req.envelope.from);
};

export const registryHandlers: HandlerTable = {
  'hub:register': (req, p) => {
    const { turn } = req;
    const { registry, ids } = turn.host;
    const now = turn.now;
    const identity = req.session.snapshot.context.identity ?? '';
    if (refuseReservedRegistration(req, p.actorAddress)) return;
    if (turn.config.authEnabled && !inScope(identity, p.actorAddress)) {
      req.fail({
        code: 'unauthorized',
        message: `With auth on, this session may register only ${identity} and addresses below it.`,
        resolution: `Register ${identity} or an address of the form @(${identity.slice(2, -1)}/...).`,
        extra: { action: 'register', reason: 'scope_violation' },
      });
      return;
    }
    const existing = registry.get(p.actorAddress);
    const liveExisting = isLiveRow(existing, now) ? existing : null;
    if (refuseRegistrationOverCap(req, liveExisting?.connId === req.session.connId)) return;

    if (!liveExisting && registry.countLive(now) >= turn.config.registryLimit) {
      req.fail({
        code: 'registry_full',
        message: `The registry holds its limit of ${turn.config.registryLimit} actors.`,
        details: { limit: turn.config.registryLimit },
      });
      return;
    }

    // Last one wins: a different live session holding the address is evicted
    // first, which releases all of its registrations (including this one).
    if (liveExisting && liveExisting.connId !== req.session.connId) {
      const holder = req.hub.session(liveExisting.connId);
      if (holder && isReachable(holder)) {
        turn.log.log('info', 'session.duplicate', {
          sessionId: holder.snapshot.context.sessionId,
          traceId: req.traceId,
          replacedBy: req.sessionId,
        });
        req.hub.drive(turn, holder, { type: 'DUPLICATE_DETECTED', now });
      }
    }

    const ttlSeconds = Math.min(p.ttlSeconds ?? turn.config.defaultActorTtlSeconds, turn.config.maxActorTtlSeconds);
    const ttlMs = Math.max(1, Math.round(ttlSeconds * 1000));
    const renewFlag = req.envelope.metadata.renewOnHeartbeat ?? p.metadata?.renewOnHeartbeat;
    const row: ActorRow = {
      address: p.actorAddress,
      connId: req.session.connId,
      sessionId: req.sessionId,
      // With auth on, capabilities come from the token, never from the client.
      capabilities: turn.config.authEnabled ? req.session.snapshot.context.capabilities : p.capabilities,
      metadata: p.metadata ?? {},
      registeredAt: now,
      expiresAt: now + ttlMs,
      ttlMs,
      renewalToken: ids.token(),
      version: (existing?.version ?? 0) + 1,
      renewOnHeartbeat: renewFlag === true,
    };
    registry.put(row);
    turn.registryTouched = true;
    turn.log.log('debug', 'actor.registered', { sessionId: req.sessionId, traceId: req.traceId, version: row.version });
    const registered = {
      actorAddress: row.address,
      expiresAt: row.expiresAt,
      renewalToken: row.renewalToken,
      version: row.version,
    };
    // 0.1.0 clients read these fields from the reply's metadata; the payload is the contract's place.
    req.reply('hub:registered', registered, { ...registered });
  },

  'hub:unregister': (req, p) => {
    const { registry } = req.turn.host;
    // The 0.1.0 form names the address in `from` and sends no payload.
    const address = p?.actorAddress ?? req.envelope.from;
    const row = registry.get(address);
    if (isLiveRow(row, req.turn.now) && row.connId !== req.session.connId) {
      req.fail({
        code: 'unauthorized',
        message: `${address} is registered by another session.`,
        resolution: 'Unregister only addresses this session registered.',
        extra: { action: 'unregister', reason: 'not_owner' },
      });
      return;
    }
    // Unregistering an address nobody holds is a no-op that still succeeds,
    // so a client retrying after a lost reply gets the same answer.
    if (row && row.connId === req.session.connId) {
      registry.delete(address);
      req.turn.registryTouched = true;
    }
    if (req.isAsk) req.reply('hub:unregistered', { actorAddress: address });
  },

  'hub:renew': (req, p) => {
    const { registry, ids } = req.turn.host;
    const row = p ? registry.byRenewalToken(p.renewalToken) : legacyRenewTarget(req);
    if (!isLiveRow(row, req.turn.now) || row.connId !== req.session.connId) {
      req.fail({
        code: 'unauthorized',
        message: 'The renewal token is unknown, expired or belongs to another session.',
        resolution: 'Use the renewalToken from the latest hub:registered or hub:renewed, or register again.',
        extra: { action: 'renew', reason: 'invalid_renewal_token' },
      });
      return;
    }
    const renewed: ActorRow = { ...row, expiresAt: req.turn.now + row.ttlMs, renewalToken: ids.token() };
    registry.put(renewed);
    req.turn.registryTouched = true;
    // The 0.1.0 form is a fire-and-forget tell that never reads the rotated token; its
    // clients would take an uncorrelated hub:renewed for an application message.
    if (!p && !req.isAsk) return;
    req.reply('hub:renewed', {
      actorAddress: renewed.address,
      expiresAt: renewed.expiresAt,
      renewalToken: renewed.renewalToken,
    });
  },

  'hub:discover': (req, p) => {
    const glob = compileGlob(p.pattern);
    const limit = Math.min(p.limit ?? MAX_DISCOVER_LIMIT, MAX_DISCOVER_LIMIT);
    const actors: DiscoveredActor[] = [];
    let hasMore = false;
    const budget = new ReplyBudget(req.turn);
    const prefix = `@(${glob.prefix}`;
    // Rows come in address order, so the scan stops as soon as the literal
    // prefix no longer matches or one more than the limit was found.
    for (const row of req.turn.host.registry.scanFrom(req.turn.now, prefix)) {
      if (!row.address.startsWith(prefix)) break;
      if (!glob.matches(row.address)) continue;
      if (p.capability !== undefined && !row.capabilities.includes(p.capability)) continue;
      const actor = { address: row.address, capabilities: row.capabilities, metadata: row.metadata };
      if (actors.length === limit || !budget.admit(actor)) {
        hasMore = true;
        break;
      }
      actors.push(actor);
    }
    req.reply('hub:discovered', { actors, hasMore });
  },

  'hub:list_actors': (req, p) => {
    const { registry } = req.turn.host;
    const offset = p?.offset ?? 0;
    const limit = Math.min(p?.limit ?? DEFAULT_LIST_LIMIT, MAX_LIST_LIMIT);
    const total = registry.countLive(req.turn.now);
    // Cut by bytes as well: hasMore below then tells the client to page on from offset + actors.length.
    const page = registry.page(req.turn.now, offset, limit).map((row): ListedActor => ({
      actorAddress: row.address,
      capabilities: row.capabilities,
      metadata: row.metadata,
      registeredAt: row.registeredAt,
      expiresAt: row.expiresAt,
      version: row.version,
    }));
    const actors = new ReplyBudget(req.turn).fit(page);
    req.reply('hub:actor_list', { actors, total, offset, limit, hasMore: offset + actors.length < total });
  },
};
