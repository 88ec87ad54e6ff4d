// The benchmark page: the SDK with a listener that only counts, so that
// what is measured is the SDK's work (decode, dedupe, gap checks, events).
import { HeraldClient, type StreamPositionInit } from "../src/index.js";

const bench = {
  count: 0,
  bytes: 0,
  first: 0,
  last: 0,
  started: 0,
  connectedAt: 0,
  epoch: "",
  client: undefined as HeraldClient | undefined,
  start(url: string, token: string, resume: StreamPositionInit[] = [], backoff: { minBackoffMs?: number; maxBackoffMs?: number } = {}): void {
    bench.count = bench.bytes = bench.first = bench.last = bench.connectedAt = 0;
    bench.started = performance.now();
    const c = new HeraldClient({ url, token: () => token, resume, ...backoff });
    c.on("push", (p) => {
      const t = performance.now();
      if (bench.count === 0) bench.first = t;
      bench.last = t;
      bench.count++;
      bench.bytes += p.payload.length;
      bench.epoch = p.epoch;
    });
    c.on("state", (s) => {
      if (s.state === "connected") bench.connectedAt = performance.now();
    });
    c.start();
    bench.client = c;
  },
  stop(): Promise<void> {
    return bench.client?.close() ?? Promise.resolve();
  },
};

(window as unknown as { bench: typeof bench }).bench = bench;
