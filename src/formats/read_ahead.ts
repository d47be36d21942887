// Reading ahead of a writer: GPU readbacks in flight together wait for the GPU once (each
// single readback waits a whole device poll), so a state is saved in one wait per window
// rather than one per tensor, with memory bounded by the window.

/** How far a writer reads ahead. */
export const READ_AHEAD_BYTES = 64 * 2 ** 20;

/**
 * The items' data in order, each fetched up to `window` bytes ahead of the consumer (always
 * at least the next one). A fetch that fails is reported when the consumer reaches it, or not
 * at all if the consumer stops before.
 */
export function readAhead<T, D>(
  items: readonly T[],
  bytes: (item: T) => number,
  fetch: (item: T) => D | Promise<D>,
  window = READ_AHEAD_BYTES,
): { next(): Promise<D> } {
  const ahead: { bytes: number; data: Promise<D> }[] = [];
  let i = 0, held = 0;
  return {
    next() {
      while (i < items.length && (ahead.length === 0 || held + bytes(items[i]) <= window)) {
        const item = items[i++], data = Promise.resolve(fetch(item));
        data.catch(() => {});
        ahead.push({ bytes: bytes(item), data });
        held += bytes(item);
      }
      const first = ahead.shift();
      if (!first) return Promise.reject(new Error("readAhead: read past the last item"));
      held -= first.bytes;
      return first.data;
    },
  };
}
