import assert from "node:assert/strict";
import { test } from "node:test";
import WebSocket from "ws";
import { FakeServer } from "../harness/fakeserver.js";
import { startClient } from "../harness/recorder.js";
import { until } from "../harness/wait.js";

test("an offset jump holds pushes, resumes the stream alone, and delivers replay then held, each once", async (t) => {
  const srv = await FakeServer.start(t);
  const rec = startClient(t, { url: srv.url, WebSocket, token: () => "t" });
  const c = await srv.conn(0);
  c.welcome();
  c.push("user:alice", 1);
  c.push("broadcast", 1);
  c.push("user:alice", 4); // 2 and 3 went missing
  c.push("user:alice", 5);
  c.push("broadcast", 2);
  const r = await c.next("resume");
  assert.deepEqual(
    r.streams.map((s) => [s.stream, s.offset, s.epoch]),
    [["user:alice", 1n, "e1"]],
  );
  await until(() => rec.pushes.length === 3, "what is not held");
  assert.deepEqual(rec.payloads(), ["user:alice#1", "broadcast#1", "broadcast#2"]);
  c.send({ case: "resumeResult", value: { streams: [{ stream: "user:alice", recovered: true, offset: 5n, epoch: "e1" }] } });
  for (const o of [2, 3, 4, 5]) c.push("user:alice", o);
  c.push("user:alice", 6);
  await until(() => rec.payloads("user:alice").length === 6, "replay, held and live");
  assert.deepEqual(
    rec.payloads("user:alice"),
    [1, 2, 3, 4, 5, 6].map((o) => `user:alice#${o}`),
  );
  assert.equal(rec.failed.length, 0);
});

test("a gap whose answer never comes is reported after gapTimeoutMs and the held pushes delivered", async (t) => {
  const srv = await FakeServer.start(t);
  const rec = startClient(t, { url: srv.url, WebSocket, token: () => "t", gapTimeoutMs: 100, autoAck: true });
  const c = await srv.conn(0);
  c.welcome();
  c.push("user:alice", 1);
  c.push("user:alice", 3);
  await c.next("resume");
  await until(() => rec.failed.length === 1, "resumeFailed");
  assert.equal(rec.failed[0].stream, "user:alice");
  assert.equal(rec.failed[0].recovered, false);
  assert.deepEqual(rec.payloads(), ["user:alice#1", "user:alice#3"]);
  await until(() => c.frames.some((f) => f.kind.case === "ack" && f.kind.value.positions.some((p) => p.offset === 3n)), "the held push acked");
});

test("a connect-time Resume that is not recovered moves the stream to the server's position", async (t) => {
  const srv = await FakeServer.start(t);
  const rec = startClient(t, { url: srv.url, WebSocket, token: () => "t", resume: [{ stream: "user:alice", offset: 10, epoch: "old" }] });
  const c = await srv.conn(0);
  c.welcome();
  await c.next("resume");
  c.send({ case: "resumeResult", value: { streams: [{ stream: "user:alice", recovered: false, offset: 3n, epoch: "new" }] } });
  c.push("user:alice", 3, "new"); // at the server's position: already past
  c.push("user:alice", 4, "new");
  await until(() => rec.pushes.length === 1, "the push after it");
  assert.deepEqual(rec.payloads(), ["user:alice#4"]);
  assert.deepEqual([rec.failed[0].stream, rec.failed[0].offset, rec.failed[0].epoch], ["user:alice", 3n, "new"]);
  assert.deepEqual(
    rec.client.positions().map((p) => [p.stream, p.offset, p.epoch]),
    [["user:alice", 4n, "new"]],
  );
});
