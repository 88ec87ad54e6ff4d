import assert from "node:assert/strict";
import { test } from "node:test";
import WebSocket from "ws";
import { HeraldClient } from "../../src/index.js";
import { FakeServer } from "../harness/fakeserver.js";
import { freePort } from "../harness/herald.js";
import { Recorder } from "../harness/recorder.js";
import { until } from "../harness/wait.js";

const timers = () => process.getActiveResourcesInfo().filter((r) => r === "Timeout").length;
const sockets = () => process.getActiveResourcesInfo().filter((r) => r === "TCPSocketWrap").length;

test("close() sends 1000 and leaves no timer or socket behind", async (t) => {
  const srv = await FakeServer.start(t);
  const baseTimers = timers();
  const baseSockets = sockets();
  const rec = new Recorder(new HeraldClient({ url: srv.url, WebSocket, token: () => "t", autoAck: true, gapTimeoutMs: 60_000 }));
  rec.client.start();
  const c = await srv.conn(0);
  c.welcome(25_000, { tokenExpiresAt: Date.now() + 3_600_000 }); // heartbeat and refresh timers
  c.push("user:alice", 1);
  c.push("user:alice", 2); // an Ack timer
  c.push("user:alice", 5); // a gap timer
  await c.next("resume");
  assert.ok(timers() > baseTimers, "the client has timers running");
  await rec.client.close();
  assert.equal(timers(), baseTimers, "no timer left");
  assert.equal(rec.client.state, "closed");
  assert.equal(rec.states.at(-1)!.error?.code, "closed");
  assert.equal(rec.states.at(-1)!.code, 1000);
  await until(() => c.closed !== undefined, "the server sees the close");
  assert.equal(c.closed!.code, 1000);
  await until(() => sockets() === baseSockets, "sockets closed");
  await rec.client.close(); // idempotent
});

test("close() during the reconnect wait and during a hanging token provider", async (t) => {
  const port = await freePort();
  const waiting = new Recorder(new HeraldClient({ url: `ws://127.0.0.1:${port}/ws`, WebSocket, token: () => "t", minBackoffMs: 60_000, random: () => 0.99 }));
  const base = timers();
  waiting.client.start();
  await until(() => waiting.client.state === "reconnecting", "reconnecting");
  await waiting.client.close();
  assert.equal(timers(), base);
  assert.deepEqual(
    waiting.states.map((s) => s.state),
    ["connecting", "reconnecting", "closed"],
  );

  const srv = await FakeServer.start(t);
  let called = false;
  const hanging = new HeraldClient({
    url: srv.url,
    WebSocket,
    token: () => {
      called = true;
      return new Promise<string>(() => {});
    },
  });
  hanging.start();
  await until(() => called, "token provider called");
  await hanging.close();
  assert.equal(hanging.state, "closed");
  assert.equal(srv.conns.length, 0);
});

test("close() from inside a listener", async (t) => {
  const srv = await FakeServer.start(t);
  const client = new HeraldClient({ url: srv.url, WebSocket, token: () => "t" });
  let closing: Promise<void> | undefined;
  let after = 0;
  client.on("push", (p) => {
    if (p.offset === 1n) closing = client.close();
    else after++;
  });
  client.start();
  const c = await srv.conn(0);
  c.welcome();
  c.send({ case: "batch", value: { pushes: [1, 2, 3].map((o) => ({ stream: "user:alice", offset: BigInt(o), epoch: "e1" })) } });
  await until(() => closing !== undefined, "the listener closed");
  await closing;
  assert.equal(after, 0, "nothing delivered after close()");
});

test("start() twice throws; close() before start() closes", () => {
  const c = new HeraldClient({ url: "ws://127.0.0.1:1/ws", WebSocket, token: () => "t" });
  void c.close();
  assert.equal(c.state, "closed");
  assert.throws(() => c.start(), /start after close/);
});
