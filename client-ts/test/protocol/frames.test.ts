import assert from "node:assert/strict";
import { test } from "node:test";
import WebSocket from "ws";
import { FakeServer } from "../harness/fakeserver.js";
import { startClient } from "../harness/recorder.js";
import { until } from "../harness/wait.js";

test("a text message from the server is a bad frame: dropped and redialled", async (t) => {
  const srv = await FakeServer.start(t);
  const rec = startClient(t, { url: srv.url, WebSocket, token: () => "t", minBackoffMs: 1, maxBackoffMs: 1 });
  const c = await srv.conn(0);
  c.welcome();
  c.ws.send("hello", { binary: false });
  await until(() => rec.count("reconnecting") === 1, "reconnecting");
  assert.equal(rec.last("reconnecting")!.error?.code, "bad_frame");
  await srv.conn(1);
});

test("bytes that are not a ServerFrame are a bad frame", async (t) => {
  const srv = await FakeServer.start(t);
  const rec = startClient(t, { url: srv.url, WebSocket, token: () => "t", minBackoffMs: 1, maxBackoffMs: 1 });
  const c = await srv.conn(0);
  c.welcome();
  c.ws.send(Buffer.from([0x0a, 0xff, 0xff])); // field 1, length beyond the end
  await until(() => rec.count("reconnecting") === 1, "reconnecting");
  assert.equal(rec.last("reconnecting")!.error?.code, "bad_frame");
});

test("a frame kind newer than the client is ignored", async (t) => {
  const srv = await FakeServer.start(t);
  const rec = startClient(t, { url: srv.url, WebSocket, token: () => "t" });
  const c = await srv.conn(0);
  c.welcome();
  c.ws.send(Buffer.from([0xa2, 0x01, 0x00])); // field 20, empty message
  c.push("user:alice", 1);
  await until(() => rec.pushes.length === 1, "the push after it");
  assert.equal(rec.count("reconnecting"), 0);
});

test("Error frames, batches and listener failures reach the app as events", async (t) => {
  const srv = await FakeServer.start(t);
  const rec = startClient(t, { url: srv.url, WebSocket, token: () => "t" });
  rec.client.on("push", (p) => {
    if (p.offset === 2n) throw new Error("app bug");
  });
  const c = await srv.conn(0);
  c.welcome();
  c.send({ case: "error", value: { code: "invalid_token", message: "token is for another user" } });
  c.send({
    case: "batch",
    value: { pushes: [1, 2, 3].map((o) => ({ stream: "user:alice", offset: BigInt(o), epoch: "e1", topic: "t" })) },
  });
  await until(() => rec.pushes.length === 3, "the batch");
  assert.deepEqual(
    rec.pushes.map((p) => p.offset),
    [1n, 2n, 3n],
  );
  assert.deepEqual(
    rec.errors.map((e) => [e.source, e.code]),
    [
      ["server", "invalid_token"],
      ["client", "listener_failed"],
    ],
  );
});

test("the client sends binary frames only, whatever it sends", async (t) => {
  const srv = await FakeServer.start(t);
  const rec = startClient(t, {
    url: srv.url,
    WebSocket,
    token: () => "t",
    autoAck: true,
    resume: [{ stream: "user:alice", offset: 1, epoch: "e1" }],
  });
  const c = await srv.conn(0);
  c.ws.on("message", () => {
    const f = c.frames.at(-1);
    if (f?.kind.case === "ping") c.send({ case: "pong", value: { nonce: f.kind.value.nonce } });
  });
  c.welcome(30);
  await c.next("resume");
  c.send({ case: "resumeResult", value: { streams: [{ stream: "user:alice", recovered: true, offset: 1n, epoch: "e1" }] } });
  c.push("user:alice", 2);
  await c.next("ack");
  rec.client.refreshToken("t2");
  await c.next("refreshToken");
  await c.next("ping");
  assert.deepEqual([...new Set(c.frames.map((f) => f.kind.case))].sort(), ["ack", "ping", "refreshToken", "resume"]);
  assert.equal(c.texts, 0);
});
