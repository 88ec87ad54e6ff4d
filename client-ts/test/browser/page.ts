// The test page: the SDK bundled for the browser, driven by the tests
// through window.harness. Tokens come from the page's own origin
// (/token?user=...), as an app gets them from its backend.
import { HeraldClient, type ClientOptions, type StateChange, type StreamPositionInit } from "../../src/index.js";

interface Seen {
  stream: string;
  offset: string;
  payload: string;
}

const seen: Seen[] = [];
const states: { state: StateChange["state"]; code?: number; error?: string; delayMs?: number; at: number }[] = [];
const failed: string[] = [];
let client: HeraldClient | undefined;
let saved: StreamPositionInit[] = []; // positions kept across a played reload

const harness = {
  seen,
  states,
  failed,
  /** start connects as user with the given options. */
  start(url: string, user: string, opts: Partial<ClientOptions> = {}, extra: { random?: number; groups?: string; ttlMs?: number } = {}): void {
    const q = new URLSearchParams({ user, groups: extra.groups ?? "", ttl: String(extra.ttlMs ?? 3_600_000) });
    client = new HeraldClient({
      url,
      token: async () => (await fetch(`/token?${q}`)).text(),
      ...opts,
      ...(extra.random === undefined ? {} : { random: () => extra.random! }),
    });
    client.on("push", (p) => seen.push({ stream: p.stream, offset: String(p.offset), payload: new TextDecoder().decode(p.payload) }));
    client.on("state", (s) => states.push({ state: s.state, code: s.code, error: s.error?.code, delayMs: s.delayMs, at: Date.now() }));
    client.on("resumeFailed", (r) => failed.push(r.stream));
    client.start();
  },
  /** unload closes the client and saves its positions, as an app does before a reload. */
  async unload(): Promise<void> {
    saved = client?.positions() ?? [];
    await client?.close();
  },
  /** reload starts a client as user from the positions unload saved. */
  reload(url: string, user: string, extra: { groups?: string } = {}): void {
    harness.start(url, user, { resume: saved }, extra);
  },
  state(): string {
    return client?.state ?? "none";
  },
  close(): Promise<void> {
    return client?.close() ?? Promise.resolve();
  },
};

(window as unknown as { harness: typeof harness }).harness = harness;
