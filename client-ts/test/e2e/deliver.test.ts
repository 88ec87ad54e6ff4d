import assert from "node:assert/strict";
import { test } from "node:test";
import WebSocket from "ws";
import { Herald, newCreds } from "../harness/herald.js";
import { pushAPI } from "../harness/api.js";
import { mint } from "../harness/jwt.js";
import { startClient } from "../harness/recorder.js";
import { until } from "../harness/wait.js";

const enc = (s: string) => new TextEncoder().encode(s);

test("pushes to the user, a group and broadcast arrive in order, token in the query", async (t) => {
  const creds = newCreds();
  const h = await Herald.start(t, creds);
  const api = pushAPI(t, h.grpc, creds.apiKey);
  let tokens = 0;
  const rec = startClient(t, {
    url: h.url,
    WebSocket,
    token: () => {
      tokens++;
      return mint(creds.secret, "alice", { groups: ["news"] });
    },
  });
  await until(() => rec.client.state === "connected", "connected");
  assert.equal(rec.last("connected")?.welcome?.userId, "alice");
  await api.pushToUsers({ userIds: ["alice"], message: { topic: "t", payload: enc("u1") } });
  await api.pushToGroups({ groups: ["news"], message: { topic: "t", payload: enc("g1") } });
  await api.broadcast({ message: { topic: "t", payload: enc("b1") } });
  await api.pushToUsers({ userIds: ["alice"], message: { topic: "t", payload: enc("u2") } });
  await until(() => rec.pushes.length === 4, "four pushes");
  assert.deepEqual(rec.payloads(), ["u1", "g1", "b1", "u2"]);
  assert.deepEqual(
    rec.pushes.map((p) => [p.stream, p.offset]),
    [
      ["user:alice", 1n],
      ["group:news", 1n],
      ["broadcast", 1n],
      ["user:alice", 2n],
    ],
  );
  assert.equal(tokens, 1);
  assert.deepEqual(
    rec.states.map((s) => s.state),
    ["connecting", "connected"],
  );
});

test("the token can travel in the Authorization header where the WebSocket takes headers", async (t) => {
  const creds = newCreds();
  const h = await Herald.start(t, creds);
  const urls: string[] = [];
  class Spy extends WebSocket {
    constructor(url: string, protocols?: string | string[], options?: WebSocket.ClientOptions) {
      urls.push(url);
      super(url, protocols, options);
    }
  }
  const rec = startClient(t, { url: h.url, WebSocket: Spy, tokenIn: "header", token: () => mint(creds.secret, "bob") });
  await until(() => rec.client.state === "connected", "connected");
  assert.equal(urls.length, 1);
  assert.ok(!urls[0].includes("token="), urls[0]);
});
