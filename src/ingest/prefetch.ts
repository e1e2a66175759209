/**
 * Keeps `depth` items of an async iterable requested ahead of the consumer, so the producer's work (reading,
 * tokenising, chunking, lookups) runs while the consumer awaits inference — the pipelining that keeps ingest
 * close to the bare model's throughput.
 */
export async function* prefetch<T>(source: AsyncIterable<T>, depth: number): AsyncGenerator<T> {
  const iterator = source[Symbol.asyncIterator]();
  const ahead: Array<Promise<IteratorResult<T>>> = [];
  const request = () => {
    const next = iterator.next();
    next.catch(() => undefined); // rejections surface when this promise is awaited in order below
    ahead.push(next);
  };
  for (let i = 0; i < Math.max(1, depth); i++) request();
  try {
    while (true) {
      const result = await ahead.shift()!;
      if (result.done) return;
      request();
      yield result.value;
    }
  } finally {
    await iterator.return?.();
  }
}
