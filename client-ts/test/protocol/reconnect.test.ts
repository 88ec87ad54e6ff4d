import assert from "node:assert/strict";
import { test } from "node:test";
import WebSocket from "ws";
import { FakeServer } from "../harness/fakeserver.js";
import { freePort } from "../harness/herald.js";
import { startClient } from "../harness/recorder.js";
import { until } from "../harness/wait.js";

test("every connect asks for a token; a reconnect sends resume=1 and Resume as its first frame", async (t) => {
  const srv = await FakeServer.start(t);
  let n = 0;
  const rec = startClient(t, { url: srv.url, WebSocket, token: () => `tok${++n}`, minBackoffMs: 1, maxBackoffMs: 1 });
  const c0 = await srv.conn(0);
  assert.equal(c0.query.get("token"), "tok1");
  assert.equal(c0.query.get("resume"), null, "nothing to resume yet");
  c0.welcome();
  c0.push("user:alice", 1);
  c0.push("broadcast", 7, "b");
  await until(() => rec.pushes.length === 2, "two pushes");
  c0.ws.close(1011, "internal error");

  const c1 = await srv.conn(1);
  assert.equal(c1.query.get("token"), "tok2");
  assert.equal(c1.query.get("resume"), "1");
  const r = await c1.next("resume");
  assert.equal(c1.frames[0].kind.case, "resume", "Resume is the first frame");
  assert.deepEqual(
    r.streams.map((s) => [s.stream, s.offset, s.epoch]),
    [
      ["broadcast", 7n, "b"],
      ["user:alice", 1n, "e1"],
    ],
  );
  const rs = rec.last("reconnecting")!;
  assert.equal(rs.code, 1011);
  assert.equal(rs.error?.code, "closed_by_server");
  assert.equal(rs.attempt, 1);
});

test("the server's reconnect_after is the delay, not the backoff's", async (t) => {
  const srv = await FakeServer.start(t);
  const rec = startClient(t, { url: srv.url, WebSocket, token: () => "t", minBackoffMs: 60_000, random: () => 0.999 });
  const c0 = await srv.conn(0);
  c0.welcome();
  c0.send({ case: "disconnect", value: { code: 1001, reason: "server shutting down", reconnect: true, reconnectAfter: { seconds: 0n, nanos: 150_000_000 } } });
  c0.ws.close(1001, "server shutting down");
  await until(() => rec.count("reconnecting") === 1, "reconnecting");
  assert.equal(rec.last("reconnecting")!.delayMs, 150);
  assert.equal(rec.last("reconnecting")!.code, 1001);
  await srv.conn(1); // well before the 60 s the backoff would have waited
});

test("Disconnect with reconnect false stops the client for good", async (t) => {
  const srv = await FakeServer.start(t);
  let tokens = 0;
  const rec = startClient(t, { url: srv.url, WebSocket, token: () => `t${++tokens}`, minBackoffMs: 1, maxBackoffMs: 1 });
  const c0 = await srv.conn(0);
  c0.welcome();
  c0.send({ case: "disconnect", value: { code: 4002, reason: "account closed", reconnect: false } });
  c0.ws.close(4002, "account closed");
  await until(() => rec.client.state === "closed", "closed");
  const last = rec.states.at(-1)!;
  assert.equal(last.error?.code, "disconnected");
  assert.equal(last.code, 4002);
  assert.equal(last.reason, "account closed");
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(srv.conns.length, 1, "no reconnect");
  assert.equal(tokens, 1);
  assert.throws(() => rec.client.ack(), /client closed/);
});

test("4002 without a Disconnect frame also means do not come back", async (t) => {
  const srv = await FakeServer.start(t);
  const rec = startClient(t, { url: srv.url, WebSocket, token: () => "t", minBackoffMs: 1, maxBackoffMs: 1 });
  const c0 = await srv.conn(0);
  c0.welcome();
  c0.ws.close(4002, "kicked");
  await until(() => rec.client.state === "closed", "closed");
  assert.equal(rec.states.at(-1)!.error?.code, "disconnected");
});

test("reconnect delays grow with full jitter and start over after a stable connection", async (t) => {
  const port = await freePort(); // nobody listens: every dial fails
  const rec = startClient(t, {
    url: `ws://127.0.0.1:${port}/ws`,
    WebSocket,
    token: () => "t",
    minBackoffMs: 8,
    maxBackoffMs: 40,
    random: () => 0.99999,
  });
  await until(() => rec.count("reconnecting") >= 5, "five failures");
  await rec.client.close();
  const rs = rec.states.filter((s) => s.state === "reconnecting").slice(0, 5);
  assert.deepEqual(
    rs.map((s) => s.delayMs),
    [8, 16, 32, 40, 40],
  );
  assert.deepEqual(
    rs.map((s) => s.attempt),
    [1, 2, 3, 4, 5],
  );
  assert.equal(rs[0].error?.code, "connection_lost");

  // A connection that stays up stableAfterMs resets the growth.
  const srv = await FakeServer.start(t);
  const rec2 = startClient(t, { url: srv.url, WebSocket, token: () => "t", minBackoffMs: 8, maxBackoffMs: 1000, stableAfterMs: 50, random: () => 0.99999 });
  for (let i = 0; i < 3; i++) (await srv.conn(i)).ws.close(1011); // three short-lived, no Welcome
  const c3 = await srv.conn(3);
  c3.welcome();
  await until(() => rec2.client.state === "connected", "connected");
  await new Promise((r) => setTimeout(r, 80)); // past stableAfterMs
  c3.ws.close(1011);
  await until(() => rec2.count("reconnecting") === 4, "fourth failure");
  const r2 = rec2.states.filter((s) => s.state === "reconnecting");
  assert.deepEqual(
    r2.map((s) => [s.delayMs, s.attempt]),
    [
      [8, 1],
      [16, 2],
      [32, 3],
      [8, 1],
    ],
  );
});

test("a handshake with no Welcome is dropped after handshakeTimeoutMs", async (t) => {
  const srv = await FakeServer.start(t);
  const rec = startClient(t, { url: srv.url, WebSocket, token: () => "t", handshakeTimeoutMs: 100, minBackoffMs: 1, maxBackoffMs: 1 });
  await srv.conn(0); // and never welcome it
  await until(() => rec.count("reconnecting") === 1, "reconnecting");
  assert.equal(rec.last("reconnecting")!.error?.code, "handshake_timeout");
  (await srv.conn(1)).welcome();
  await until(() => rec.client.state === "connected", "connected");
});

test("a token provider that fails is retried with backoff", async (t) => {
  const srv = await FakeServer.start(t);
  let calls = 0;
  const rec = startClient(t, {
    url: srv.url,
    WebSocket,
    minBackoffMs: 1,
    maxBackoffMs: 1,
    token: async () => {
      if (++calls < 3) throw new Error(calls === 1 ? "backend down" : "");
      return calls === 3 ? "" : "good";
    },
  });
  (await srv.conn(0)).welcome();
  await until(() => rec.client.state === "connected", "connected");
  assert.deepEqual(
    rec.states.filter((s) => s.state === "reconnecting").map((s) => s.error?.code),
    ["token_provider", "token_provider", "empty_token"],
  );
  assert.equal(srv.conns[0].query.get("token"), "good");
});
