/**
 * Shares one read among the callers that ask for the same key before that read has started: the
 * read runs on the next turn of the event loop (setImmediate), so it begins after every caller it
 * serves asked, and each caller sees at least what it would have seen reading alone. A caller that
 * asks once the read has started gets a new read. Made for SSE fan-out: one Redis wake-up resumes
 * every stream following an intent in the same turn, and they all read after the same cursor.
 */
export class ReadCoalescer<T> {
  private readonly pending = new Map<string, Promise<T>>();

  read(key: string, fn: () => Promise<T>): Promise<T> {
    const waiting = this.pending.get(key);
    if (waiting) return waiting;
    const promise = new Promise<T>((resolve, reject) => {
      setImmediate(() => {
        // From here on, later callers must not join: they may have been woken by a newer write.
        if (this.pending.get(key) === promise) this.pending.delete(key);
        fn().then(resolve, reject);
      });
    });
    this.pending.set(key, promise);
    return promise;
  }
}
