import assert from "node:assert/strict";
import { test } from "node:test";
import WebSocket from "ws";
import { fromBinary } from "@bufbuild/protobuf";
import { ClientFrameSchema } from "../../src/gen/herald/client/v1/client_pb.js";
import { pushAPI } from "../harness/api.js";
import { Herald, newCreds } from "../harness/herald.js";
import { mint } from "../harness/jwt.js";
import { startClient } from "../harness/recorder.js";
import { until } from "../harness/wait.js";

const enc = (s: string) => new TextEncoder().encode(s);

// Spy is a WebSocket that keeps its instances, to cut them, and counts
// the kinds of frames the client sent.
function spy() {
  const sockets: WebSocket[] = [];
  const sent: string[] = [];
  class Spy extends WebSocket {
    constructor(url: string, protocols?: string | string[], options?: WebSocket.ClientOptions) {
      super(url, protocols, options);
      sockets.push(this);
      const send = this.send.bind(this);
      this.send = ((data: Uint8Array, ...rest: never[]) => {
        sent.push(fromBinary(ClientFrameSchema, data).kind.case ?? "?");
        return send(data, ...rest);
      }) as typeof this.send;
    }
  }
  return { Spy, sockets, sent };
}

test("streams the client never received a push from are resumed after a drop", async (t) => {
  const creds = newCreds();
  const h = await Herald.start(t, creds);
  const api = pushAPI(t, h.grpc, creds.apiKey);
  await api.pushToGroups({ groups: ["news"], message: { topic: "t", payload: enc("before the client") } });
  const { Spy, sockets } = spy();
  // The reconnect waits for the test: the pushes below are made while the
  // client is away.
  let away!: () => void;
  const back = new Promise<void>((r) => (away = r));
  let tokens = 0;
  const rec = startClient(t, {
    url: h.url,
    WebSocket: Spy,
    minBackoffMs: 1,
    maxBackoffMs: 10,
    token: async () => {
      if (tokens++ > 0) await back;
      return mint(creds.secret, "alice", { groups: ["news"] });
    },
  });
  await until(() => rec.client.state === "connected", "connected");
  assert.deepEqual(
    rec.client.positions().map((p) => [p.stream, p.offset]),
    [
      ["broadcast", 0n],
      ["group:news", 1n],
      ["user:alice", 0n],
    ],
    "the Welcome's positions",
  );
  sockets[0].terminate();
  await until(async () => (await api.getStats({})).stats?.connections === 0n, "the server to drop the connection");
  const r = await api.pushToGroups({ groups: ["news"], message: { topic: "t", payload: enc("while away") } });
  assert.equal(r.delivered, 0n, "the client is away");
  await api.broadcast({ message: { topic: "t", payload: enc("everyone") } });
  away();
  await until(() => rec.pushes.length === 2, "the pushes made while away");
  assert.deepEqual(
    rec.pushes.map((p) => [p.stream, p.offset, Buffer.from(p.payload).toString()]).sort(),
    [
      ["broadcast", 1n, "everyone"],
      ["group:news", 2n, "while away"],
    ],
  );
  assert.deepEqual(rec.failed, []);
});

test("a sender excluded from its own group pushes asks the server for nothing, live or after a drop", async (t) => {
  const creds = newCreds();
  const h = await Herald.start(t, creds);
  const api = pushAPI(t, h.grpc, creds.apiKey);
  const { Spy, sockets, sent } = spy();
  let away!: () => void;
  const back = new Promise<void>((r) => (away = r));
  let tokens = 0;
  const alice = startClient(t, {
    url: h.url,
    WebSocket: Spy,
    minBackoffMs: 1,
    maxBackoffMs: 10,
    token: async () => {
      if (tokens++ > 0) await back;
      return mint(creds.secret, "alice", { groups: ["chat"] });
    },
  });
  const bob = startClient(t, { url: h.url, WebSocket, token: () => mint(creds.secret, "bob", { groups: ["chat"] }) });
  await until(() => alice.client.state === "connected" && bob.client.state === "connected", "connected");
  const say = (who: string, i: number) =>
    api.pushToGroups({ groups: ["chat"], excludeUserIds: who === "alice" ? ["alice"] : [], message: { topic: "t", payload: enc(`${who} ${i}`) } });
  for (let i = 1; i <= 30; i++) await say(i % 3 === 0 ? "bob" : "alice", i);
  await until(() => bob.pushes.length === 30, "bob gets every message");
  const chat = () => alice.client.positions().find((p) => p.stream === "group:chat")?.offset;
  await until(() => chat() === 30n, "alice's position moves with every push");
  assert.equal(alice.pushes.length, 10, "alice's app gets bob's messages only");
  assert.ok(alice.pushes.every((p) => Buffer.from(p.payload).toString().startsWith("bob")));
  assert.deepEqual(sent, [], "alice's client sent nothing: no Resume");
  assert.equal((await api.getStats({})).stats?.messagesIn, 0n, "the server got no frame");

  // Away and back: the replay carries markers where alice was excluded.
  sockets[0].terminate();
  await until(async () => (await api.getStats({})).stats?.connections === 1n, "the server to drop alice");
  for (let i = 31; i <= 40; i++) await say(i % 2 === 0 ? "bob" : "alice", i);
  away();
  await until(() => chat() === 40n, "alice's position after the replay");
  assert.equal(alice.pushes.length, 15);
  assert.deepEqual(sent, ["resume"], "one Resume, at the reconnect");
  assert.deepEqual(alice.failed, []);
});
