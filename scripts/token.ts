/**
 * Mints a development JWT for a hub running with AUTH_ENABLED=true.
 *
 *   npm run token -- --actor browser/ui --cap send --cap chat --ttl 3600 \
 *     [--secret S | JWT_SECRET=S] [--permissions '{"publish":["events/*"]}']
 *
 * Prints the token on stdout (and its claims on stderr), so it can be used as
 * `metadata.authToken` in hub:connect.
 */
import { parseArgs } from 'node:util';
import { permissionsSchema } from '../src/core/auth';
import { mintToken } from '../src/auth/jwt';

const { values } = parseArgs({
  options: {
    actor: { type: 'string' },
    sub: { type: 'string' },
    cap: { type: 'string', multiple: true, default: [] },
    ttl: { type: 'string', default: '3600' },
    secret: { type: 'string' },
    permissions: { type: 'string' },
    help: { type: 'boolean', default: false },
  },
});

const usage = 'usage: npm run token -- --actor <actorId> [--cap <capability>]... [--ttl <seconds>] [--secret <secret>] [--permissions <json>]';

if (values.help || !values.actor) {
  console.error(usage);
  process.exit(values.help ? 0 : 2);
}
const secret = values.secret ?? process.env.JWT_SECRET;
if (!secret) {
  console.error('No secret: pass --secret or set JWT_SECRET (the same value the hub has as its JWT_SECRET secret).');
  process.exit(2);
}
const ttl = Number(values.ttl);
if (!Number.isInteger(ttl) || ttl <= 0) {
  console.error('--ttl must be a positive whole number of seconds');
  process.exit(2);
}
const permissions = values.permissions ? permissionsSchema.strict().parse(JSON.parse(values.permissions)) : undefined;
const actorId = values.actor.replace(/^@\((.*)\)$/, '$1');

const token = await mintToken(secret, {
  actorId,
  sub: values.sub ?? actorId,
  capabilities: values.cap,
  ...(permissions ? { permissions } : {}),
  lifetimeSeconds: ttl,
});
console.error(JSON.stringify({ actorId, identity: `@(${actorId})`, capabilities: values.cap, permissions, expiresInSeconds: ttl }));
console.log(token);
