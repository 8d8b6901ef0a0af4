import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compileGlob } from '../../src/core/glob';

/** The discover glob (§5): `*` matches any run of characters including `/`, everything else is literal. */

const matches = (pattern: string, address: string): boolean => compileGlob(pattern).matches(address);

/**
 * An independent oracle: classic dynamic programming over (pattern, text).
 * Quadratic, which is fine for the short strings the property test makes.
 */
const oracle = (pattern: string, text: string): boolean => {
  const p = pattern;
  const t = text;
  let prev: boolean[] = Array.from({ length: t.length + 1 }, (_, j) => j === 0);
  for (let i = 1; i <= p.length; i++) {
    const cur: boolean[] = new Array<boolean>(t.length + 1).fill(false);
    cur[0] = p[i - 1] === '*' && prev[0]!;
    for (let j = 1; j <= t.length; j++) {
      cur[j] = p[i - 1] === '*' ? prev[j]! || cur[j - 1]! : prev[j - 1]! && p[i - 1] === t[j - 1];
    }
    prev = cur;
  }
  return prev[t.length]!;
};

describe('glob matcher', () => {
  it('a pattern without stars matches exactly that address', () => {
    expect(matches('svc/db', '@(svc/db)')).toBe(true);
    expect(matches('svc/db', '@(svc/db2)')).toBe(false);
    expect(matches('svc/db', '@(xsvc/db)')).toBe(false);
    expect(matches('svc', '@(svc/db)')).toBe(false);
  });

  it('the @( ) wrapper is optional on the pattern', () => {
    expect(matches('@(svc/db)', '@(svc/db)')).toBe(true);
    expect(matches('@(svc/*)', '@(svc/db)')).toBe(true);
    expect(matches('@(svc/*)', '@(other/db)')).toBe(false);
  });

  it('`*` matches any run of characters, across `/`, and the empty run', () => {
    expect(matches('*', '@(a)')).toBe(true);
    expect(matches('*', '@(a/b/c)')).toBe(true);
    expect(matches('a/*', '@(a/b/c/d)')).toBe(true);
    expect(matches('a/*/d', '@(a/b/c/d)')).toBe(true);
    expect(matches('a*', '@(a)')).toBe(true);
    expect(matches('*a', '@(a)')).toBe(true);
    expect(matches('a*b', '@(ab)')).toBe(true);
    expect(matches('a/*', '@(a)')).toBe(false);
  });

  it('prefix and suffix may not overlap', () => {
    expect(matches('a*a', '@(a)')).toBe(false);
    expect(matches('a*a', '@(aa)')).toBe(true);
    expect(matches('ab*ba', '@(aba)')).toBe(false);
    expect(matches('ab*ba', '@(abba)')).toBe(true);
  });

  it('middle pieces must appear in order and must not reach into the suffix', () => {
    expect(matches('a*b*c', '@(abc)')).toBe(true);
    expect(matches('a*b*c', '@(a-b-c)')).toBe(true);
    expect(matches('a*b*c', '@(acb)')).toBe(false);
    expect(matches('x*ab*b', '@(xab)')).toBe(false);
    expect(matches('x*ab*b', '@(xabb)')).toBe(true);
    expect(matches('*ab*ab*', '@(abab)')).toBe(true);
    expect(matches('*ab*ab*', '@(aba)')).toBe(false);
    expect(matches('*aa*aa*', '@(aaa)')).toBe(false);
    expect(matches('*aa*aa*', '@(aaaa)')).toBe(true);
  });

  it('consecutive stars behave like one', () => {
    for (const address of ['@(ab)', '@(a/x/b)', '@(ba)', '@(a)']) {
      expect(matches('a**b', address)).toBe(matches('a*b', address));
      expect(matches('***', address)).toBe(true);
    }
  });

  it('regular-expression syntax is literal', () => {
    expect(matches('a.c', '@(a.c)')).toBe(true);
    expect(matches('a.c', '@(abc)')).toBe(false);
    expect(matches('a+', '@(aa)')).toBe(false);
    expect(matches('a+', '@(a+)')).toBe(true);
    expect(matches('[ab]', '@(a)')).toBe(false);
    expect(matches('^x$', '@(^x$)')).toBe(true);
    expect(matches('?', '@(a)')).toBe(false);
    expect(matches('a\\*', '@(a\\bc)')).toBe(true);
  });

  it('a pathological pattern gets the right answer on long addresses', () => {
    const p = '*a*a*a*a*a*a*a*a*a*a*b';
    expect(matches(p, `@(${'a'.repeat(256)})`)).toBe(false);
    expect(matches(p, `@(${'a'.repeat(255)}b)`)).toBe(true);
    expect(matches(p, `@(${'a'.repeat(9)}b)`)).toBe(false);
    expect(matches(p, `@(${'ab'.repeat(10)})`)).toBe(true);
    expect(matches(p, `@(${'ab'.repeat(9)}b)`)).toBe(false);
    const wide = `${'*a'.repeat(300)}*b`;
    expect(matches(wide, `@(${'a'.repeat(255)}b)`)).toBe(false);
    expect(matches(`${'*a'.repeat(200)}*b`, `@(${'a'.repeat(255)}b)`)).toBe(true);
  });

  it('exposes the literal text before the first star as a scan prefix', () => {
    expect(compileGlob('svc/*/db').prefix).toBe('svc/');
    expect(compileGlob('@(svc/*)').prefix).toBe('svc/');
    expect(compileGlob('*db').prefix).toBe('');
    expect(compileGlob('exact').prefix).toBe('exact');
  });

  it('agrees with an independent matcher on random patterns and addresses', () => {
    const alphabet = fc.constantFrom('a', 'b', '/', '.');
    const text = fc.array(alphabet, { minLength: 1, maxLength: 12 }).map((cs) => cs.join(''));
    const pattern = fc
      .array(fc.oneof(alphabet, fc.constant('*')), { minLength: 1, maxLength: 8 })
      .map((cs) => cs.join(''));
    fc.assert(
      fc.property(pattern, text, (p, t) => {
        expect(matches(p, `@(${t})`)).toBe(oracle(p, t));
      }),
      { numRuns: 3000, seed: 20240601 },
    );
  });

  it('every address matches a pattern built from it with stars inserted', () => {
    fc.assert(
      fc.property(
        fc.array(fc.constantFrom('a', 'b', 'x', '/'), { minLength: 1, maxLength: 20 }),
        fc.array(fc.boolean(), { minLength: 21, maxLength: 21 }),
        (chars, stars) => {
          const address = chars.join('');
          // Replace some characters by a star: the star can absorb them.
          const p = chars.map((c, i) => (stars[i] ? '*' : c)).join('');
          expect(matches(p, `@(${address})`)).toBe(true);
        },
      ),
      { numRuns: 1000, seed: 7 },
    );
  });
});
