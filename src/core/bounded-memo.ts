/**
 * A string function remembered per argument, for the few constants a frame
 * path sees again and again (the hub's address, reply types, error codes):
 * computed once instead of once per frame of a flood. Bounded, so an
 * argument that is not one of those constants after all cannot grow it
 * without limit; past the bound the function is simply called.
 */
export const boundedMemo = (fn: (s: string) => string, limit = 256): ((s: string) => string) => {
  const known = new Map<string, string>();
  return (s) => {
    let value = known.get(s);
    if (value === undefined) {
      value = fn(s);
      if (known.size < limit) known.set(s, value);
    }
    return value;
  };
};
