import assert from "node:assert/strict";
import { test } from "node:test";
import WebSocket from "ws";
import { FakeServer } from "../harness/fakeserver.js";
import { startClient } from "../harness/recorder.js";
import { until } from "../harness/wait.js";

const positions = (sps: { stream: string; offset: bigint; epoch: string }[]) => sps.map((s) => [s.stream, s.offset, s.epoch]);

test("the Welcome's positions of streams without one are taken, and the next connection resumes them", async (t) => {
  const srv = await FakeServer.start(t);
  const rec = startClient(t, { url: srv.url, WebSocket, token: () => "t", minBackoffMs: 1, maxBackoffMs: 5, resume: [{ stream: "user:alice", offset: 7, epoch: "u" }] });
  const c0 = await srv.conn(0);
  await c0.next("resume");
  c0.welcome(25_000, {
    streams: [
      ["user:alice", 9, "u"], // ahead of the client's 7, which stays
      ["broadcast", 0, ""], // never published
      ["group:news", 41, "n"], // nothing received yet
    ],
  });
  c0.send({ case: "resumeResult", value: { streams: [{ stream: "user:alice", recovered: true, offset: 7n, epoch: "u" }] } });
  await until(() => rec.client.positions().length === 3, "the Welcome's positions");
  c0.ws.close(1011, "internal error");
  const c1 = await srv.conn(1);
  assert.equal(c1.query.get("resume"), "1");
  const r = await c1.next("resume");
  assert.deepEqual(positions(r.streams), [
    ["broadcast", 0n, ""],
    ["group:news", 41n, "n"],
    ["user:alice", 7n, "u"],
  ]);
  assert.equal(rec.failed.length, 0);
});

test("markers of pushes that excluded this user send no Resume, report nothing, and move the position", async (t) => {
  const srv = await FakeServer.start(t);
  const rec = startClient(t, { url: srv.url, WebSocket, token: () => "t", autoAck: true });
  const c = await srv.conn(0);
  c.welcome(25_000, { streams: [["group:chat", 0, ""]] });
  c.marker("group:chat", 1, "c");
  c.marker("group:chat", 2, "c");
  c.push("group:chat", 3, "c");
  c.send({
    case: "batch",
    value: { pushes: [{ stream: "group:chat", offset: 4n, epoch: "c", excluded: true }, { stream: "group:chat", offset: 5n, epoch: "c", payload: new TextEncoder().encode("five") }] },
  });
  c.marker("group:chat", 6, "c");
  await until(() => rec.client.positions().some((p) => p.stream === "group:chat" && p.offset === 6n), "the last marker");
  assert.deepEqual(rec.payloads(), ["group:chat#3", "five"]);
  await until(() => c.frames.some((f) => f.kind.case === "ack" && f.kind.value.positions.some((p) => p.offset === 5n)), "the ack of 5");
  assert.equal(c.count("resume"), 0, "no Resume for offsets the markers took");
  assert.equal(rec.failed.length, 0);
});

test("a stream the Welcome says was never published starts at 1: a first push above is asked for from 0 of its epoch", async (t) => {
  const srv = await FakeServer.start(t);
  const rec = startClient(t, { url: srv.url, WebSocket, token: () => "t" });
  const c = await srv.conn(0);
  c.welcome(25_000, { streams: [["group:news", 0, ""], ["broadcast", 0, ""]] });
  c.push("broadcast", 1, "b");
  c.push("group:news", 3, "n");
  const r = await c.next("resume");
  assert.deepEqual(positions(r.streams), [["group:news", 0n, "n"]]);
  c.send({ case: "resumeResult", value: { streams: [{ stream: "group:news", recovered: true, offset: 3n, epoch: "n" }] } });
  c.push("group:news", 1, "n");
  c.push("group:news", 2, "n");
  await until(() => rec.pushes.length === 4, "the replay and the held push");
  assert.deepEqual(rec.payloads(), ["broadcast#1", "group:news#1", "group:news#2", "group:news#3"]);
  assert.equal(rec.failed.length, 0);
});
