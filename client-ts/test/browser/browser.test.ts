import assert from "node:assert/strict";
import { test } from "node:test";
import { Herald, newCreds, Redis } from "../harness/herald.js";
import { pushAPI } from "../harness/api.js";
import { until } from "../harness/wait.js";
import { openPage, seen, setup, state, type Seen } from "./fixture.js";

type H = { harness: { start(...a: unknown[]): void; states: { state: string; code?: number; error?: string; delayMs?: number }[]; failed: string[] } };
const enc = (s: string) => new TextEncoder().encode(s);

// recordSends wraps WebSocket.prototype.send in the page, before any
// script runs, to record the type of everything the page sends.
function recordSends(): void {
  const w = window as unknown as { sent: string[] };
  w.sent = [];
  const send = WebSocket.prototype.send;
  WebSocket.prototype.send = function (this: WebSocket, data: string | ArrayBufferLike | Blob | ArrayBufferView) {
    w.sent.push(typeof data === "string" ? "text" : data instanceof Blob ? "blob" : ArrayBuffer.isView(data) ? "binary" : "arraybuffer");
    return send.call(this, data);
  };
}

test("in Chromium: pushes to the user, a group and broadcast arrive, deflate is negotiated, only binary is sent", async (t) => {
  const f = await setup(t, ["--heartbeat-interval", "500ms"]);
  const page = await openPage(t, f, recordSends);
  await page.evaluate(
    (url) => (window as unknown as H).harness.start(url, "alice", { autoAck: true }, { groups: "news", ttlMs: 2_000 }),
    f.herald.url,
  );
  await until(async () => (await state(page)) === "connected", "connected");

  await f.api.pushToUsers({ userIds: ["alice"], message: { topic: "t", payload: enc("to alice") } });
  await f.api.pushToGroups({ groups: ["news"], message: { topic: "t", payload: enc("to news") } });
  await f.api.broadcast({ message: { topic: "t", payload: enc("to everyone") } });
  const receipt = await f.api.pushToUsers({ userIds: ["alice"], message: { topic: "t", payload: enc("acked") }, ackTimeout: { seconds: 10n } });
  await until(async () => (await seen(page)).length === 4, "four pushes");
  assert.deepEqual(
    (await seen(page)).map((s) => [s.stream, s.offset, s.payload]),
    [
      ["user:alice", "1", "to alice"],
      ["group:news", "1", "to news"],
      ["broadcast", "1", "to everyone"],
      ["user:alice", "2", "acked"],
    ],
  );
  assert.deepEqual(
    receipt.receipts.map((r) => r.acked),
    [true],
  );

  const presence = await f.api.getPresence({ userIds: ["alice"] });
  const conn = presence.users[0].connections[0];
  assert.equal(conn.compressed, true, "permessage-deflate negotiated");
  assert.match(conn.userAgent, /Chrome/);

  // Past the 2 s token, with a 500 ms heartbeat: Pings, Acks and
  // RefreshTokens have gone out, on the same connection.
  await new Promise((r) => setTimeout(r, 3_000));
  const sent = await page.evaluate(() => (window as unknown as { sent: string[] }).sent);
  assert.ok(sent.length >= 5, `frames sent: ${sent.length}`);
  assert.deepEqual([...new Set(sent)], ["binary"], "never a text frame");
  assert.deepEqual(
    (await page.evaluate(() => (window as unknown as H).harness.states)).map((s) => s.state),
    ["connecting", "connected"],
  );
});

test("in Chromium: several pages through a server killed and restarted lose nothing and repeat nothing", async (t) => {
  const creds = newCreds();
  const redis = await Redis.start(t);
  let a = await Herald.start(t, creds, ["--redis-url", redis.url]);
  const b = await Herald.start(t, creds, ["--redis-url", redis.url]);
  const f = await setup(t, [], creds, a);
  const api = pushAPI(t, b.grpc, creds.apiKey);
  const pages: import("playwright-core").Page[] = [];
  for (let i = 0; i < 3; i++) {
    const p = await openPage(t, f);
    await p.evaluate((url) => (window as unknown as H).harness.start(url, "alice", { minBackoffMs: 50, maxBackoffMs: 500 }, { groups: "news" }), a.url);
    pages.push(p);
  }
  await until(async () => (await Promise.all(pages.map(state))).every((s) => s === "connected"), "all connected");

  const n = 120;
  const want: Record<string, string[]> = { "user:alice": [], "group:news": [], broadcast: [] };
  for (let i = 1; i <= n; i++) {
    const target = i % 3 === 0 ? "broadcast" : i % 3 === 1 ? "user" : "group";
    const message = { id: `m${i}`, topic: "t", payload: enc(`m${i}`) };
    for (;;) {
      try {
        if (target === "user") await api.pushToUsers({ userIds: ["alice"], message });
        else if (target === "group") await api.pushToGroups({ groups: ["news"], message });
        else await api.broadcast({ message });
        break;
      } catch {
        await new Promise((r) => setTimeout(r, 20));
      }
    }
    want[target === "user" ? "user:alice" : target === "group" ? "group:news" : "broadcast"].push(`m${i}`);
    if (i === 40) await a.kill();
    if (i === 80) a = await Herald.start(t, creds, ["--redis-url", redis.url, "--ws-addr", a.ws]);
  }
  for (const p of pages) {
    await until(async () => (await seen(p)).length >= n, `${n} pushes on a page`);
  }
  await new Promise((r) => setTimeout(r, 200));
  for (const p of pages) {
    const got: Seen[] = await seen(p);
    assert.equal(got.length, n);
    // In order within each stream; there is no order across streams (a
    // replay comes stream by stream).
    for (const [stream, payloads] of Object.entries(want)) {
      assert.deepEqual(
        got.filter((s) => s.stream === stream).map((s) => s.payload),
        payloads,
        stream,
      );
    }
    assert.deepEqual(await p.evaluate(() => (window as unknown as H).harness.failed), []);
  }
});

test("in Chromium: a reload resumes a group the page never received a push from", async (t) => {
  type R = { harness: { unload(): Promise<void>; reload(url: string, user: string, extra: { groups: string }): void } };
  const f = await setup(t);
  await f.api.pushToGroups({ groups: ["news"], message: { topic: "t", payload: enc("before the page") } });
  const page = await openPage(t, f);
  await page.evaluate((url) => (window as unknown as H).harness.start(url, "alice", {}, { groups: "news" }), f.herald.url);
  await until(async () => (await state(page)) === "connected", "connected");
  await page.evaluate(() => (window as unknown as R).harness.unload());
  await until(async () => (await f.api.getStats({})).stats?.connections === 0n, "the page's connection closed");
  await f.api.pushToGroups({ groups: ["news"], message: { topic: "t", payload: enc("while reloading") } });
  await page.evaluate((url) => (window as unknown as R).harness.reload(url, "alice", { groups: "news" }), f.herald.url);
  await until(async () => (await seen(page)).length === 1, "the push made during the reload");
  assert.deepEqual(
    (await seen(page)).map((s) => [s.stream, s.offset, s.payload]),
    [["group:news", "2", "while reloading"]],
  );
  assert.deepEqual(await page.evaluate(() => (window as unknown as H).harness.failed), []);
});
