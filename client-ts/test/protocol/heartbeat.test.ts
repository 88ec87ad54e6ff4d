import assert from "node:assert/strict";
import { test } from "node:test";
import WebSocket from "ws";
import { FakeServer } from "../harness/fakeserver.js";
import { startClient } from "../harness/recorder.js";
import { until } from "../harness/wait.js";

test("an idle connection sends Pings, and the Pongs keep it up", async (t) => {
  const srv = await FakeServer.start(t);
  const rec = startClient(t, { url: srv.url, WebSocket, token: () => "t" });
  const c = await srv.conn(0);
  c.ws.on("message", () => {
    const f = c.frames.at(-1);
    if (f?.kind.case === "ping") c.send({ case: "pong", value: { nonce: f.kind.value.nonce } });
  });
  c.welcome(150); // heartbeat 150 ms
  await until(() => c.count("ping") >= 6, "six Pings");
  assert.deepEqual(
    c.frames.flatMap((f) => (f.kind.case === "ping" ? [f.kind.value.nonce] : [])),
    Array.from({ length: c.count("ping") }, (_, i) => BigInt(i + 1)),
  );
  assert.equal(rec.count("reconnecting"), 0, "six intervals of server silence, answered Pings: still up");
});

test("pushes count as life: a busy connection sends no Ping", async (t) => {
  const srv = await FakeServer.start(t);
  startClient(t, { url: srv.url, WebSocket, token: () => "t" });
  const c = await srv.conn(0);
  c.welcome(300);
  for (let i = 1; i <= 60; i++) {
    c.push("user:alice", i);
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.equal(c.count("ping"), 0);
});

test("a server that answers nothing is dropped after about three intervals, and redialled", async (t) => {
  const srv = await FakeServer.start(t);
  const rec = startClient(t, { url: srv.url, WebSocket, token: () => "t", minBackoffMs: 1, maxBackoffMs: 1 });
  const c = await srv.conn(0);
  c.welcome(40);
  await until(() => rec.count("reconnecting") === 1, "dropped");
  assert.equal(rec.last("reconnecting")!.error?.code, "silent_server");
  assert.ok(c.count("ping") >= 1, "it asked before giving up");
  await srv.conn(1);
});

test("probe() checks a quiet connection at once with a Ping", async (t) => {
  const srv = await FakeServer.start(t);
  const rec = startClient(t, { url: srv.url, WebSocket, token: () => "t", probeTimeoutMs: 50, minBackoffMs: 1, maxBackoffMs: 1 });
  const c = await srv.conn(0);
  c.welcome(60_000);
  await until(() => rec.client.state === "connected", "connected");
  rec.client.probe();
  assert.equal(c.count("ping"), 0);
  await c.next("ping"); // long before the 60 s heartbeat
  await until(() => rec.count("reconnecting") === 1, "unanswered probe drops it");
  assert.equal(rec.last("reconnecting")!.error?.code, "silent_server");
});
