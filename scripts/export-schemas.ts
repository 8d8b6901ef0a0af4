/**
 * Writes the JSON Schema (draft 2020-12) of every message of the protocol to
 * docs/schemas/, for clients in other languages and for documentation:
 *
 * - `requests/<type>.json`: a request envelope a client sends, with its payload;
 * - `replies/<type>.json`: a frame the hub sends (replies, notices, errors).
 *
 * `<type>` is the message type without its `hub:` prefix. The schemas come
 * from the zod schemas in src/protocol/ (`z.toJSONSchema`), and a unit test
 * fails when the files are not current, so run this after changing them.
 *
 * Usage: npm run schemas:export [-- --out <dir>]
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { envelopeSchema } from '../src/protocol/envelope';
import { requestSchemas, type RequestType } from '../src/protocol/messages';
import { hubFrameSchemas, type HubMessageType } from '../src/protocol/replies';

const nameOf = (type: string): string => type.replace(/^hub:/, '');

const document = (title: string, schema: z.ZodType, io: 'input' | 'output'): string => {
  const { $schema, ...rest } = z.toJSONSchema(schema, { io });
  return `${JSON.stringify({ $schema, title, ...rest }, null, 2)}\n`;
};

/** Every schema file, by path relative to the output folder. */
export const schemaFiles = (): Map<string, string> => {
  const files = new Map<string, string>();
  for (const type of Object.keys(requestSchemas) as RequestType[]) {
    // What a client may send: the envelope's optional fields may be left out, so the input side is described.
    const message = envelopeSchema.extend({ type: z.literal(type), payload: requestSchemas[type] });
    files.set(`requests/${nameOf(type)}.json`, document(`${type} (request)`, message, 'input'));
  }
  for (const type of Object.keys(hubFrameSchemas) as HubMessageType[]) {
    files.set(`replies/${nameOf(type)}.json`, document(`${type} (from the hub)`, hubFrameSchemas[type], 'output'));
  }
  return files;
};

export const SCHEMA_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..', 'docs', 'schemas');

const main = (): void => {
  const outFlag = process.argv.indexOf('--out');
  const out = outFlag >= 0 && process.argv[outFlag + 1] ? resolve(process.argv[outFlag + 1]!) : SCHEMA_DIR;
  // Written from scratch, so a message that was removed leaves no stale file behind.
  for (const folder of ['requests', 'replies']) rmSync(join(out, folder), { recursive: true, force: true });
  const files = schemaFiles();
  for (const [path, content] of files) {
    const file = join(out, path);
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, content);
  }
  console.log(`wrote ${files.size} schemas to ${relative(process.cwd(), out) || '.'}`);
};

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) main();
