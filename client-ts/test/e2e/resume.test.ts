import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { test } from "node:test";
import { fromBinary } from "@bufbuild/protobuf";
import WebSocket from "ws";
import { ClientFrameSchema, ServerFrameSchema } from "../../src/gen/herald/client/v1/client_pb.js";
import { pushAPI, type API } from "../harness/api.js";
import { Herald, newCreds, Redis } from "../harness/herald.js";
import { mint } from "../harness/jwt.js";
import { startClient } from "../harness/recorder.js";
import { until } from "../harness/wait.js";

const enc = (s: string) => new TextEncoder().encode(s);
const range = (n: number) => Array.from({ length: n }, (_, i) => `m${i + 1}`);

// pushLoop pushes m1..mN to alice, one after another, retrying a push
// whose call failed (a node going down under it): every push is
// accepted exactly once, in order (the message id makes a retry
// idempotent).
async function pushLoop(api: () => API, n: number, onEach?: (i: number) => Promise<void>): Promise<void> {
  for (let i = 1; i <= n; i++) {
    for (;;) {
      try {
        await api().pushToUsers({ userIds: ["alice"], message: { id: `m${i}`, topic: "t", payload: enc(`m${i}`) } });
        break;
      } catch {
        await new Promise((r) => setTimeout(r, 20));
      }
    }
    await onEach?.(i);
  }
}

test("a server killed and restarted mid-stream loses no push and repeats none (Redis engine)", async (t) => {
  const creds = newCreds();
  const redis = await Redis.start(t);
  let a = await Herald.start(t, creds, ["--redis-url", redis.url]);
  const b = await Herald.start(t, creds, ["--redis-url", redis.url]); // the backend pushes here
  const api = pushAPI(t, b.grpc, creds.apiKey);
  // Record, per connection, the kinds of frames sent and received in
  // order, to see the resume happen at connect.
  const timelines: string[][] = [];
  class Spy extends WebSocket {
    constructor(url: string, protocols?: string | string[], options?: WebSocket.ClientOptions) {
      super(url, protocols, options);
      const tl: string[] = [];
      timelines.push(tl);
      this.on("message", (data: ArrayBuffer) => tl.push(`got ${fromBinary(ServerFrameSchema, new Uint8Array(data)).kind.case}`));
      const send = this.send.bind(this);
      this.send = ((data: Uint8Array, ...rest: never[]) => {
        const f = fromBinary(ClientFrameSchema, data);
        tl.push(f.kind.case === "resume" ? `sent resume ${f.kind.value.streams.map((s) => `${s.stream}@${s.offset}`)}` : `sent ${f.kind.case}`);
        return send(data, ...rest);
      }) as typeof this.send;
    }
  }
  const rec = startClient(t, { url: a.url, WebSocket: Spy, minBackoffMs: 10, maxBackoffMs: 200, token: () => mint(creds.secret, "alice") });
  await until(() => rec.client.state === "connected", "connected");

  const n = 300;
  await pushLoop(
    () => api,
    n,
    async (i) => {
      if (i === 100) {
        await a.kill(); // a crash: no Disconnect, no drain
      }
      if (i === 150) a = await Herald.start(t, creds, ["--redis-url", redis.url, "--ws-addr", a.ws]);
    },
  );
  await until(() => rec.pushes.length >= n, `${n} pushes`);
  await new Promise((r) => setTimeout(r, 100)); // a duplicate would show by now
  assert.deepEqual(rec.payloads(), range(n));
  assert.ok(rec.count("connected") >= 2, "it reconnected");
  assert.deepEqual(rec.failed, []);
  // The connection after the restart sent a Resume from where the first
  // one stopped before any push came: the connect-time resume, not a gap
  // filled later.
  const last = timelines.at(-1)!.filter((e) => e !== "got welcome");
  assert.match(last[0] ?? "", /^sent resume broadcast@0,user:alice@1[0-4][0-9]$/, last.slice(0, 3).join(", "));
  assert.equal(timelines.flat().filter((e) => e.startsWith("sent resume")).length, 1);
});

test("a stream the restarted server cannot replay is reported (in-memory engine: a new epoch)", async (t) => {
  const creds = newCreds();
  let h = await Herald.start(t, creds);
  let api = pushAPI(t, h.grpc, creds.apiKey);
  const rec = startClient(t, { url: h.url, WebSocket, minBackoffMs: 10, maxBackoffMs: 100, token: () => mint(creds.secret, "alice") });
  await until(() => rec.client.state === "connected", "connected");
  await api.pushToUsers({ userIds: ["alice"], message: { topic: "t", payload: enc("before") } });
  await until(() => rec.pushes.length === 1, "first push");
  const epoch = rec.pushes[0].epoch;

  await h.kill();
  h = await Herald.start(t, creds, ["--ws-addr", h.ws]);
  api = pushAPI(t, h.grpc, creds.apiKey);
  await until(() => rec.failed.length === 1, "resumeFailed");
  assert.equal(rec.failed[0].stream, "user:alice");
  assert.equal(rec.failed[0].recovered, false);
  assert.notEqual(rec.failed[0].epoch, epoch);
  await api.pushToUsers({ userIds: ["alice"], message: { topic: "t", payload: enc("after") } });
  await until(() => rec.pushes.length === 2, "push in the new epoch");
  assert.deepEqual(rec.payloads(), ["before", "after"]);
});

test("a slow consumer is cut with 4003, then resumes with every push once, in order", async (t) => {
  const creds = newCreds();
  const h = await Herald.start(t, creds, ["--send-queue-bytes", "65536"]);
  const api = pushAPI(t, h.grpc, creds.apiKey);
  const sockets: WebSocket[] = [];
  class Pausable extends WebSocket {
    constructor(url: string, protocols?: string | string[], options?: WebSocket.ClientOptions) {
      super(url, protocols, options);
      sockets.push(this);
    }
  }
  const rec = startClient(t, { url: h.url, WebSocket: Pausable, minBackoffMs: 10, maxBackoffMs: 100, token: () => mint(creds.secret, "alice") });
  await until(() => rec.client.state === "connected", "connected");
  sockets[0].pause(); // the app stops reading, as a stalled tab would

  const n = 400;
  const stats = async () => (await api.getStats({})).stats?.slowConsumerDisconnects ?? 0n;
  let cut = false;
  for (let i = 1; i <= n; i++) {
    // 32 KiB that deflate cannot shrink: 13 MB in all, past the send
    // queue and the socket buffers between them.
    const payload = Buffer.concat([enc(`m${i} `), randomBytes(32 * 1024)]);
    await api.pushToUsers({ userIds: ["alice"], message: { topic: "t", payload } });
    if (!cut && (await stats()) >= 1n) {
      // The app reads again as soon as it is cut, while the server still
      // waits (a few seconds at most) to write the Disconnect and the
      // close behind what fills the socket: it learns why. The pushes
      // that follow reach it through its Resume.
      cut = true;
      sockets[0].resume();
    }
  }
  await until(async () => (await stats()) >= 1n, "the server cuts the slow consumer");
  if (!cut) sockets[0].resume();
  await until(() => rec.pushes.length >= n, `${n} pushes`);
  await new Promise((r) => setTimeout(r, 100));
  assert.deepEqual(
    rec.pushes.map((p) => Buffer.from(p.payload.subarray(0, 8)).toString("latin1").split(" ")[0]),
    range(n),
  );
  assert.ok(rec.count("connected") >= 2, "it reconnected");
  // Its send budget holds two of these pushes, and they keep coming while
  // it replays what it missed: it may be cut again, each time with 4003,
  // and each time it resumes where it was.
  const codes = rec.states.filter((s) => s.state === "reconnecting").map((s) => s.code);
  assert.ok(codes.length >= 1 && codes.every((c) => c === 4003), `reconnects after ${codes}, want 4003 each time`);
  assert.deepEqual(rec.failed, []);
});

test("a real gap (pushes made while out of a group) is filled by a Resume of that stream", async (t) => {
  const creds = newCreds();
  const h = await Herald.start(t, creds);
  const api = pushAPI(t, h.grpc, creds.apiKey);
  const rec = startClient(t, { url: h.url, WebSocket, token: () => mint(creds.secret, "alice") });
  await until(() => rec.client.state === "connected", "connected");
  // Membership given by the API, not the token: the API can take it back.
  await api.addToGroup({ group: "news", userIds: ["alice"] });
  const toGroup = (s: string) => api.pushToGroups({ groups: ["news"], message: { topic: "t", payload: enc(s) } });
  await toGroup("g1");
  await until(() => rec.pushes.length === 1, "g1");
  await api.removeFromGroup({ group: "news", userIds: ["alice"] });
  await toGroup("g2"); // alice misses these two
  await toGroup("g3");
  await api.addToGroup({ group: "news", userIds: ["alice"] });
  await toGroup("g4"); // offset 4 after 1: a gap
  await toGroup("g5");
  await until(() => rec.pushes.length === 5, "five pushes");
  assert.deepEqual(rec.payloads(), ["g1", "g2", "g3", "g4", "g5"]);
  assert.deepEqual(
    rec.pushes.map((p) => p.offset),
    [1n, 2n, 3n, 4n, 5n],
  );
  assert.equal(rec.count("reconnecting"), 0, "filled on the same connection");
  assert.deepEqual(rec.failed, []);
});

test("a gap history no longer covers is reported, and the stream moves on", async (t) => {
  const creds = newCreds();
  const h = await Herald.start(t, creds, ["--history-size", "2"]);
  const api = pushAPI(t, h.grpc, creds.apiKey);
  const rec = startClient(t, { url: h.url, WebSocket, token: () => mint(creds.secret, "alice") });
  await until(() => rec.client.state === "connected", "connected");
  // Membership given by the API, not the token: the API can take it back.
  await api.addToGroup({ group: "news", userIds: ["alice"] });
  const toGroup = (s: string) => api.pushToGroups({ groups: ["news"], message: { topic: "t", payload: enc(s) } });
  await toGroup("g1");
  await until(() => rec.pushes.length === 1, "g1");
  await api.removeFromGroup({ group: "news", userIds: ["alice"] });
  for (const s of ["g2", "g3", "g4", "g5"]) await toGroup(s);
  await api.addToGroup({ group: "news", userIds: ["alice"] });
  await toGroup("g6");
  await until(() => rec.failed.length === 1, "resumeFailed");
  assert.equal(rec.failed[0].stream, "group:news");
  await toGroup("g7");
  await until(() => rec.payloads().includes("g7"), "g7");
  assert.deepEqual(rec.payloads(), ["g1", "g6", "g7"]);
});
