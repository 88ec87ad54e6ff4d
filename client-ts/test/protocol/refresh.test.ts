import assert from "node:assert/strict";
import { test } from "node:test";
import WebSocket from "ws";
import { FakeServer } from "../harness/fakeserver.js";
import { mint } from "../harness/jwt.js";
import { startClient } from "../harness/recorder.js";
import { until } from "../harness/wait.js";

test("RefreshToken goes out before token_expires_at, then before each new token's exp", async (t) => {
  const srv = await FakeServer.start(t);
  let n = 0;
  const rec = startClient(t, {
    url: srv.url,
    WebSocket,
    // Each token lives 2 s: the exp claim tells the client when to refresh next.
    token: () => mint("s", `alice`, { ttlMs: 2_000 }) + `#${++n}`.slice(0, 0),
  });
  const c = await srv.conn(0);
  c.welcome(25_000, { tokenExpiresAt: Date.now() + 1_000 });
  const first = await c.next("refreshToken");
  assert.ok(first.token.split(".").length === 3);
  await c.next("refreshToken", 1); // scheduled from the first refresh token's exp
  assert.equal(rec.count("reconnecting"), 0);
});

test("refreshToken: false sends none", async (t) => {
  const srv = await FakeServer.start(t);
  startClient(t, { url: srv.url, WebSocket, token: () => "t", refreshToken: false });
  const c = await srv.conn(0);
  c.welcome(25_000, { tokenExpiresAt: Date.now() + 200 });
  await new Promise((r) => setTimeout(r, 400));
  assert.equal(c.count("refreshToken"), 0);
});

test("a failing token provider at refresh time is reported and retried", async (t) => {
  const srv = await FakeServer.start(t);
  let calls = 0;
  const rec = startClient(t, {
    url: srv.url,
    WebSocket,
    token: () => {
      calls++;
      if (calls === 2) throw new Error("backend down");
      return "opaque";
    },
  });
  const c = await srv.conn(0);
  c.welcome(25_000, { tokenExpiresAt: Date.now() + 3_000 });
  await until(() => rec.errors.length === 1, "refresh_failed");
  assert.deepEqual([rec.errors[0].source, rec.errors[0].code], ["client", "refresh_failed"]);
  const r = await c.next("refreshToken");
  assert.equal(r.token, "opaque");
});
