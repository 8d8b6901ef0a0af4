import { addressPath } from '../protocol/envelope';

/**
 * Glob over an address path where `*` matches any run of characters
 * (including `/`). The pattern is split at its stars into literal pieces:
 * the first must be a prefix, the last a suffix, and the middle ones are
 * found left to right, each at its earliest position. Taking the earliest
 * position is always safe for star-only globs, so there is no backtracking
 * and the work is linear in the address length per piece — no pattern can
 * make it blow up the way a regular expression can.
 */
export interface CompiledGlob {
  /** Literal text before the first star: lets the registry scan a key range. */
  prefix: string;
  matches(address: string): boolean;
}

export const compileGlob = (rawPattern: string): CompiledGlob => {
  const pattern = addressPath(rawPattern);
  const pieces = pattern.split('*');
  const first = pieces[0] ?? '';
  if (pieces.length === 1) {
    return { prefix: first, matches: (address) => addressPath(address) === first };
  }
  const last = pieces[pieces.length - 1] ?? '';
  const middle = pieces.slice(1, -1).filter((p) => p.length > 0);
  const minLength = first.length + last.length + middle.reduce((n, p) => n + p.length, 0);
  return {
    prefix: first,
    matches(address) {
      const path = addressPath(address);
      if (path.length < minLength) return false;
      if (!path.startsWith(first) || !path.endsWith(last)) return false;
      let at = first.length;
      const end = path.length - last.length;
      for (const piece of middle) {
        const found = path.indexOf(piece, at);
        if (found < 0 || found + piece.length > end) return false;
        at = found + piece.length;
      }
      return true;
    },
  };
};
