import assert from "node:assert/strict";
import { test } from "node:test";
import WebSocket from "ws";
import { FakeServer } from "../harness/fakeserver.js";
import { startClient } from "../harness/recorder.js";
import { until } from "../harness/wait.js";

test("autoAck acknowledges delivered pushes, coalesced per stream", async (t) => {
  const srv = await FakeServer.start(t);
  const rec = startClient(t, { url: srv.url, WebSocket, token: () => "t", autoAck: true });
  const c = await srv.conn(0);
  c.welcome();
  for (let i = 1; i <= 50; i++) c.push("user:alice", i);
  c.push("broadcast", 9, "b");
  await until(() => rec.pushes.length === 51, "all pushes");
  await until(() => {
    const acks = c.frames.flatMap((f) => (f.kind.case === "ack" ? f.kind.value.positions : []));
    return acks.some((p) => p.stream === "user:alice" && p.offset === 50n) && acks.some((p) => p.stream === "broadcast" && p.offset === 9n);
  }, "acks up to the last push of each stream");
  assert.ok(c.count("ack") < 51, `coalesced: ${c.count("ack")} Acks for 51 pushes`);
});

test("without autoAck nothing is acknowledged until ack() is called", async (t) => {
  const srv = await FakeServer.start(t);
  const rec = startClient(t, { url: srv.url, WebSocket, token: () => "t" });
  assert.throws(() => rec.client.ack(), /not connected/);
  const c = await srv.conn(0);
  c.welcome();
  c.push("user:alice", 1);
  c.push("user:alice", 2);
  await until(() => rec.pushes.length === 2, "pushes");
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(c.count("ack"), 0);
  rec.client.ack(rec.pushes[0]);
  const a = await c.next("ack");
  assert.deepEqual(
    a.positions.map((p) => [p.stream, p.offset]),
    [["user:alice", 1n]],
  );
  rec.client.ack();
  const all = await c.next("ack", 1);
  assert.deepEqual(
    all.positions.map((p) => [p.stream, p.offset]),
    [["user:alice", 2n]],
  );
});
