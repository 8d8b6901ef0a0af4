import fc from 'fast-check';
import type { HubModel } from '../model';
import type { FuzzHub } from '../system';
import { advanceClockArb } from './advance-clock';
import { badFrameArb } from './bad-frame';
import { broadcastArb } from './broadcast';
import { burstArb } from './burst';
import { closeSocketArb } from './close-socket';
import { connectArb } from './connect';
import { disconnectArb } from './disconnect';
import { discoverArb } from './discover';
import { fireAlarmArb } from './fire-alarm';
import { floodArb } from './flood';
import { heartbeatArb } from './heartbeat';
import { hibernateArb } from './hibernate';
import { listActorsArb } from './list-actors';
import { metricsArb } from './metrics';
import { openSocketArb } from './open-socket';
import { pauseArb } from './pause';
import { pingArb } from './ping';
import { publishArb } from './publish';
import { queueStatsArb } from './queue-stats';
import { refreshTokenArb } from './refresh-token';
import { registerArb } from './register';
import { renewArb } from './renew';
import { resendArb } from './resend';
import { resumeArb } from './resume';
import { sendArb } from './send';
import { shutdownArb } from './shutdown';
import { subscribeArb } from './subscribe';
import { unregisterArb } from './unregister';
import { unsubscribeArb } from './unsubscribe';

export type CommandArb = fc.Arbitrary<fc.AsyncCommand<HubModel, FuzzHub, false>>;

/**
 * Every command with its relative weight: the messages that move state
 * between clients come up most, the ones that end everything (shutdown) or
 * take long (flood) rarely.
 */
export const WEIGHTED_COMMANDS: [string, CommandArb, number][] = [
  ['open', openSocketArb, 12],
  ['connect', connectArb, 16],
  ['register', registerArb, 16],
  ['unregister', unregisterArb, 4],
  ['renew', renewArb, 4],
  ['discover', discoverArb, 4],
  ['list_actors', listActorsArb, 4],
  ['heartbeat', heartbeatArb, 8],
  ['send', sendArb, 24],
  // Issue 14 B: an answered request sent again with its id.
  ['resend', resendArb, 6],
  ['broadcast', broadcastArb, 8],
  ['subscribe', subscribeArb, 8],
  ['unsubscribe', unsubscribeArb, 4],
  ['publish', publishArb, 8],
  ['pause', pauseArb, 8],
  ['resume', resumeArb, 8],
  ['queue_stats', queueStatsArb, 4],
  ['metrics', metricsArb, 4],
  ['disconnect', disconnectArb, 4],
  ['refresh_token', refreshTokenArb, 4],
  ['bad_frame', badFrameArb, 8],
  ['advance', advanceClockArb, 12],
  ['alarm', fireAlarmArb, 4],
  ['hibernate', hibernateArb, 8],
  ['close', closeSocketArb, 4],
  ['ping', pingArb, 8],
  ['burst', burstArb, 4],
  ['flood', floodArb, 3],
  ['shutdown', shutdownArb, 2],
];

/** One arbitrary over all commands, by weight (fc.commands would pick its arbitraries uniformly). */
/** `without`: command names left out (the differential keeps the command mix it had before a command was added). */
export const commandArbs = (without: readonly string[] = []): CommandArb[] => [
  fc.oneof(...WEIGHTED_COMMANDS.filter(([name]) => !without.includes(name)).map(([, arbitrary, weight]) => ({ arbitrary, weight }))),
];
