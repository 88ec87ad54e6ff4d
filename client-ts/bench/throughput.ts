// Pushes per second one Chromium tab receives and decodes with the SDK,
// against a real herald serve on loopback:
//   replay: 50,000 pushes of 100 bytes missed while away, replayed on
//           Resume as fast as the server sends them (the tab's ceiling);
//   live:   pushes sent by 64 concurrent gRPC callers while connected
//           (bounded by the server's gRPC rate on this machine).
// Run: make bench-ts (it builds herald), or HERALD_BIN=... node build/bench/throughput.js.
import { fileURLToPath } from "node:url";
import type { Page } from "playwright-core";
import { pushAPI, type API } from "../test/harness/api.js";
import { bundle, file, launch, serve } from "../test/harness/browser.js";
import { Herald, newCreds } from "../test/harness/herald.js";
import { mint } from "../test/harness/jwt.js";
import { until } from "../test/harness/wait.js";

const cleanups: (() => unknown)[] = [];
const t = { after: (fn: () => unknown) => void cleanups.unshift(fn) };
const payload = new Uint8Array(100).fill(97);

type B = { bench: { count: number; first: number; last: number; started: number; connectedAt: number; epoch: string; start(...a: unknown[]): void; stop(): Promise<void> } };
const read = (page: Page) => page.evaluate(() => {
  const { count, first, last, started, connectedAt, epoch } = (window as unknown as B).bench;
  return { count, first, last, started, connectedAt, epoch };
});

async function pushMany(api: API, n: number, callers: number): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: callers }, async () => {
      while (next < n) {
        next++;
        await api.pushToUsers({ userIds: ["alice"], message: { topic: "b", payload } });
      }
    }),
  );
}

try {
  const creds = newCreds();
  const h = await Herald.start(t, creds, ["--history-size", "60000", "--send-queue-bytes", "67108864", "--grpc-rate-limit", "1000000"]);
  const api = pushAPI(t, h.grpc, creds.apiKey);
  const js = await bundle(fileURLToPath(new URL("../../bench/page.ts", import.meta.url)), true);
  const origin = await serve(t, { "/": file("text/html", `<!doctype html><script type="module" src="/b.js"></script>`), "/b.js": file("text/javascript", js) });
  const browser = await launch(t);
  const page = await browser.newPage();
  await page.goto(origin + "/");
  await page.waitForFunction(() => "bench" in window);
  const token = mint(creds.secret, "alice");

  // Live.
  const live = 20_000;
  await page.evaluate(([url, tok]) => (window as unknown as B).bench.start(url, tok), [h.url, token]);
  await until(async () => (await read(page)).connectedAt > 0, "connected");
  const t0 = Date.now();
  await pushMany(api, live, 64);
  await until(async () => (await read(page)).count >= live, "live pushes", 120_000);
  const r1 = await read(page);
  console.log(`live: ${live} pushes in ${((r1.last - r1.first) / 1000).toFixed(2)} s at the tab: ${Math.round(live / ((r1.last - r1.first) / 1000))}/s (gRPC side ${Math.round(live / ((Date.now() - t0) / 1000))}/s)`);
  await page.evaluate(() => (window as unknown as B).bench.stop());

  // Replay: missed while away, then resumed.
  const replay = 50_000;
  await pushMany(api, replay, 64);
  await page.evaluate(
    ([url, tok, epoch, offset]) => (window as unknown as B).bench.start(url, tok, [{ stream: "user:alice", offset: Number(offset), epoch }]),
    [h.url, token, r1.epoch, String(live)],
  );
  await until(async () => (await read(page)).count >= replay, "replayed pushes", 120_000);
  const r2 = await read(page);
  console.log(
    `replay: ${replay} pushes decoded in ${((r2.last - r2.first) / 1000).toFixed(2)} s: ${Math.round(replay / ((r2.last - r2.first) / 1000))}/s (from start() to the last: ${((r2.last - r2.started) / 1000).toFixed(2)} s)`,
  );
} finally {
  for (const fn of cleanups) await fn();
}
