// The browser signals the client listens to. React Native and Node have
// none of them here: an app there calls client.probe() from its own
// network and app-state listeners (README).

interface EventTargetLike {
  addEventListener(type: string, fn: () => void): void;
  removeEventListener(type: string, fn: () => void): void;
}

interface BrowserGlobals {
  window?: EventTargetLike;
  document?: EventTargetLike & { visibilityState?: string };
  navigator?: { onLine?: boolean };
}

const g = globalThis as unknown as BrowserGlobals;

/** Hints are what the client does when the environment changes. */
export interface Hints {
  /** back: the network came back, or the page is visible again. */
  back(): void;
  /** lost: the browser reports the network gone. */
  lost(): void;
}

/**
 * watch subscribes to online, offline and visibilitychange where they exist
 * and returns the function that unsubscribes.
 */
export function watch(h: Hints): () => void {
  const win = typeof g.window?.addEventListener === "function" ? g.window : undefined;
  const doc = typeof g.document?.addEventListener === "function" ? g.document : undefined;
  const online = () => h.back();
  const offline = () => h.lost();
  const visibility = () => {
    if (g.document?.visibilityState === "visible") h.back();
  };
  win?.addEventListener("online", online);
  win?.addEventListener("offline", offline);
  doc?.addEventListener("visibilitychange", visibility);
  return () => {
    win?.removeEventListener("online", online);
    win?.removeEventListener("offline", offline);
    doc?.removeEventListener("visibilitychange", visibility);
  };
}

/** offline reports whether the browser knows it has no network. */
export function offline(): boolean {
  return g.navigator?.onLine === false;
}
