/** Hub names in URLs: /ws/<name>, /inspect/<name>, and the operator routes (src/ops/routes.ts). */
export const DEFAULT_HUB = 'default';
const HUB_NAME = /^[A-Za-z0-9_.-]{1,64}$/;

/** The hub a matched path segment names, or null when it is not a valid name. */
export const namedHub = (match: RegExpExecArray | null): string | null => {
  if (!match?.[1]) return null;
  let name: string;
  try {
    name = decodeURIComponent(match[1]);
  } catch {
    return null; // malformed percent-encoding is simply not a hub name
  }
  return HUB_NAME.test(name) ? name : null;
};
