import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SCHEMA_DIR, schemaFiles } from '../../scripts/export-schemas';
import { requestSchemas } from '../../src/protocol/messages';
import { hubPayloadSchemas } from '../../src/protocol/replies';

/** docs/schemas/ is generated from src/protocol/; this keeps the committed files current. */

const committed = (): Map<string, string> => {
  const files = new Map<string, string>();
  for (const folder of ['requests', 'replies']) {
    const dir = join(SCHEMA_DIR, folder);
    if (!existsSync(dir)) continue;
    for (const name of readdirSync(dir)) files.set(`${folder}/${name}`, readFileSync(join(dir, name), 'utf8'));
  }
  return files;
};

describe('docs/schemas', () => {
  it('has one file per request and per message the hub sends', () => {
    const names = [...schemaFiles().keys()];
    expect(names.filter((n) => n.startsWith('requests/'))).toHaveLength(Object.keys(requestSchemas).length);
    expect(names.filter((n) => n.startsWith('replies/'))).toHaveLength(Object.keys(hubPayloadSchemas).length);
  });

  it('is current: run `npm run schemas:export` after changing src/protocol/', () => {
    const expected = schemaFiles();
    const actual = committed();
    expect([...actual.keys()].sort()).toEqual([...expected.keys()].sort());
    for (const [path, content] of expected) expect(actual.get(path), path).toBe(content);
  });
});
