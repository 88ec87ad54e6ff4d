/**
 * Emitter is a small typed event emitter: browsers, React Native and Node
 * share no emitter class. Listeners run synchronously, in the order they
 * were added; one that throws does not stop the others: the error goes to
 * onThrow.
 */
export class Emitter<Events> {
  private readonly listeners = new Map<keyof Events, Set<(ev: never) => void>>();

  constructor(private readonly onThrow: (type: keyof Events, err: unknown) => void) {}

  /** on adds a listener and returns a function that removes it. */
  on<K extends keyof Events>(type: K, fn: (ev: Events[K]) => void): () => void {
    let set = this.listeners.get(type);
    if (!set) this.listeners.set(type, (set = new Set()));
    set.add(fn as (ev: never) => void);
    return () => this.off(type, fn);
  }

  /** off removes a listener added with on. */
  off<K extends keyof Events>(type: K, fn: (ev: Events[K]) => void): void {
    this.listeners.get(type)?.delete(fn as (ev: never) => void);
  }

  /** emit calls every listener of type with ev. */
  emit<K extends keyof Events>(type: K, ev: Events[K]): void {
    const set = this.listeners.get(type);
    if (!set) return;
    for (const fn of [...set]) {
      try {
        (fn as (ev: Events[K]) => void)(ev);
      } catch (err) {
        this.onThrow(type, err);
      }
    }
  }
}
