// The timer functions that browsers, React Native and Node all provide,
// typed here so that the SDK compiles without the DOM or Node type
// libraries (an app's own lib settings decide those).
interface TimerHost {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

const host = globalThis as unknown as TimerHost;

/** Cancel stops a timer; calling it again, or after the timer ran, does nothing. */
export type Cancel = () => void;

/** after runs fn once, ms milliseconds from now, unless cancelled first. */
export function after(ms: number, fn: () => void): Cancel {
  let handle: unknown = host.setTimeout(() => {
    handle = undefined;
    fn();
  }, Math.max(0, ms));
  return () => {
    if (handle !== undefined) {
      host.clearTimeout(handle);
      handle = undefined;
    }
  };
}

/** now is the client's clock in milliseconds. */
export const now = (): number => Date.now();
