// Time from a server restart to every browser client resumed with nothing
// lost: PAGES Chromium pages (default 10, one user each) on node A, with
// the SDK's default options; A is killed; 100 broadcasts go through node B
// (shared Redis) during DOWNTIME_MS (default 2000); A starts again on the
// same port. Reported: from A's start (spawn) and from the moment it
// serves, until the last page has every push, each once. MAX_BACKOFF_MS
// (with MIN_BACKOFF_MS) replaces the SDK's default backoff, to show the
// floor under the default's jitter.
// Run: make bench-ts, or HERALD_BIN=... node build/bench/restart.js.
import { fileURLToPath } from "node:url";
import type { Page } from "playwright-core";
import { pushAPI } from "../test/harness/api.js";
import { bundle, file, launch, serve } from "../test/harness/browser.js";
import { Herald, newCreds, Redis } from "../test/harness/herald.js";
import { mint } from "../test/harness/jwt.js";
import { until } from "../test/harness/wait.js";

const pagesN = Number(process.env.PAGES ?? 10);
const downtimeMs = Number(process.env.DOWNTIME_MS ?? 2000);
const backoff = process.env.MAX_BACKOFF_MS
  ? { minBackoffMs: Number(process.env.MIN_BACKOFF_MS ?? 50), maxBackoffMs: Number(process.env.MAX_BACKOFF_MS) }
  : {};
const cleanups: (() => unknown)[] = [];
const t = { after: (fn: () => unknown) => void cleanups.unshift(fn) };

type B = { bench: { count: number; start(...a: unknown[]): void } };
const count = (p: Page) => p.evaluate(() => (window as unknown as B).bench.count);
const now = () => performance.now();

try {
  const creds = newCreds();
  const redis = await Redis.start(t);
  let a = await Herald.start(t, creds, ["--redis-url", redis.url]);
  const b = await Herald.start(t, creds, ["--redis-url", redis.url]);
  const api = pushAPI(t, b.grpc, creds.apiKey);
  const js = await bundle(fileURLToPath(new URL("../../bench/page.ts", import.meta.url)), true);
  const origin = await serve(t, { "/": file("text/html", `<!doctype html><script type="module" src="/b.js"></script>`), "/b.js": file("text/javascript", js) });
  const browser = await launch(t);
  const pages: Page[] = [];
  for (let i = 0; i < pagesN; i++) {
    const p = await (await browser.newContext()).newPage();
    await p.goto(origin + "/");
    await p.waitForFunction(() => "bench" in window);
    await p.evaluate(([url, tok, bo]) => (window as unknown as B).bench.start(url, tok, [], bo), [a.url, mint(creds.secret, `u${i}`), backoff] as const);
    pages.push(p);
  }
  const bcast = (i: number) => api.broadcast({ message: { topic: "b", payload: new TextEncoder().encode(`m${i}`) } });
  await until(
    async () => (await Promise.all(pages.map((p) => p.evaluate(() => (window as unknown as { bench: { connectedAt: number } }).bench.connectedAt)))).every((c) => c > 0),
    "every page connected",
  );
  // One push so every page has a position in the broadcast stream.
  await bcast(0);
  await until(async () => (await Promise.all(pages.map(count))).every((c) => c === 1), "first push everywhere");

  await a.kill();
  const down = now();
  const m = 100;
  for (let i = 1; i <= m; i++) await bcast(i);
  while (now() - down < downtimeMs) await new Promise((r) => setTimeout(r, 10));
  const spawned = now();
  a = await Herald.start(t, creds, ["--redis-url", redis.url, "--ws-addr", a.ws]);
  const serving = now();
  const done: number[] = [];
  await until(async () => {
    const counts = await Promise.all(pages.map(count));
    counts.forEach((c, i) => {
      if (c === m + 1 && done[i] === undefined) done[i] = now();
    });
    return counts.every((c) => c >= m + 1);
  }, "every page resumed", 120_000);
  const lastDone = Math.max(...done);
  await new Promise((r) => setTimeout(r, 200));
  const final = await Promise.all(pages.map(count));
  if (final.some((c) => c !== m + 1)) throw new Error(`pushes per page: ${final} (want ${m + 1} each)`);
  console.log(
    `restart (${process.env.MAX_BACKOFF_MS ? `backoff ${backoff.minBackoffMs}-${backoff.maxBackoffMs} ms` : "default backoff"}): ${pagesN} pages, ${downtimeMs} ms down, ${m} pushes missed: all resumed with nothing lost ${((lastDone - spawned) / 1000).toFixed(2)} s after the restart began, ${((lastDone - serving) / 1000).toFixed(2)} s after it served (first page ${((Math.min(...done) - serving) / 1000).toFixed(2)} s)`,
  );
} finally {
  for (const fn of cleanups) await fn();
}
