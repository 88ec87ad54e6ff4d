import assert from "node:assert/strict";
import { test } from "node:test";
import WebSocket from "ws";
import { pushAPI } from "../harness/api.js";
import { Herald, newCreds } from "../harness/herald.js";
import { mint } from "../harness/jwt.js";
import { startClient } from "../harness/recorder.js";
import { until } from "../harness/wait.js";

const enc = (s: string) => new TextEncoder().encode(s);

test("DisconnectUser with reconnect comes back; without it the client stops for good", async (t) => {
  const creds = newCreds();
  const h = await Herald.start(t, creds);
  const api = pushAPI(t, h.grpc, creds.apiKey);
  let tokens = 0;
  const rec = startClient(t, {
    url: h.url,
    WebSocket,
    minBackoffMs: 10,
    maxBackoffMs: 50,
    token: () => {
      tokens++;
      return mint(creds.secret, "alice");
    },
  });
  await until(() => rec.client.state === "connected", "connected");
  const res = await api.disconnectUser({ userId: "alice", reason: "rotate", reconnect: true });
  assert.equal(res.disconnected, 1n);
  await until(() => rec.count("connected") === 2, "reconnected");
  const r = rec.last("reconnecting")!;
  assert.equal(r.code, 4002);
  assert.equal(r.reason, "rotate");
  assert.equal(tokens, 2, "a token per connect");

  await api.disconnectUser({ userId: "alice", reason: "account closed", reconnect: false });
  await until(() => rec.client.state === "closed", "closed");
  const last = rec.states.at(-1)!;
  assert.equal(last.error?.code, "disconnected");
  assert.equal(last.code, 4002);
  assert.equal(last.reason, "account closed");
  const p = await api.getPresence({ userIds: ["alice"] });
  assert.equal(p.users[0].online, false);
  assert.equal(tokens, 2);
});

test("an expired token closes with 4001 and the client comes back with a fresh one", async (t) => {
  const creds = newCreds();
  const h = await Herald.start(t, creds);
  const ttls: number[] = [];
  const rec = startClient(t, {
    url: h.url,
    WebSocket,
    refreshToken: false,
    minBackoffMs: 10,
    maxBackoffMs: 50,
    token: () => {
      const ttlMs = ttls.length === 0 ? 1_500 : 3_600_000;
      ttls.push(ttlMs);
      return mint(creds.secret, "alice", { ttlMs });
    },
  });
  await until(() => rec.count("connected") === 2, "reconnected after expiry");
  const r = rec.last("reconnecting")!;
  assert.equal(r.code, 4001);
  assert.equal(r.error?.code, "closed_by_server");
  assert.deepEqual(ttls, [1_500, 3_600_000]);
});

test("RefreshToken before expiry keeps a long-lived connection", async (t) => {
  const creds = newCreds();
  const h = await Herald.start(t, creds);
  const api = pushAPI(t, h.grpc, creds.apiKey);
  let tokens = 0;
  const rec = startClient(t, {
    url: h.url,
    WebSocket,
    token: () => {
      tokens++;
      return mint(creds.secret, "alice", { ttlMs: 2_000 });
    },
  });
  await until(() => rec.client.state === "connected", "connected");
  const session = rec.last("connected")!.welcome!.sessionId;
  // Three token lifetimes.
  await until(() => tokens >= 4, "three refreshes", 20_000);
  await api.pushToUsers({ userIds: ["alice"], message: { topic: "t", payload: enc("still here") } });
  await until(() => rec.pushes.length === 1, "push");
  assert.equal(rec.count("reconnecting"), 0, "never cut");
  const p = await api.getPresence({ userIds: ["alice"] });
  assert.deepEqual(
    p.users[0].connections.map((c) => c.sessionId),
    [session],
  );
  assert.deepEqual(rec.errors, []);
});

test("a refresh with a bad token is answered with an error event; the connection stays", async (t) => {
  const creds = newCreds();
  const h = await Herald.start(t, creds);
  const rec = startClient(t, { url: h.url, WebSocket, token: () => mint(creds.secret, "alice") });
  await until(() => rec.client.state === "connected", "connected");
  rec.client.refreshToken(mint(creds.secret, "mallory"));
  await until(() => rec.errors.length === 1, "error event");
  assert.deepEqual([rec.errors[0].source, rec.errors[0].code], ["server", "invalid_token"]);
  assert.equal(rec.client.state, "connected");
});

test("Pings keep an idle connection up; a frozen server is detected and the client comes back", async (t) => {
  const creds = newCreds();
  const h = await Herald.start(t, creds, ["--heartbeat-interval", "500ms"]);
  const api = pushAPI(t, h.grpc, creds.apiKey);
  const rec = startClient(t, { url: h.url, WebSocket, handshakeTimeoutMs: 1_000, minBackoffMs: 10, maxBackoffMs: 100, token: () => mint(creds.secret, "alice") });
  await until(() => rec.client.state === "connected", "connected");
  assert.equal(Number(rec.last("connected")!.welcome!.heartbeatInterval!.nanos), 500_000_000);
  // Idle for ten intervals: the server's protocol pings are invisible to a
  // WebSocket-API client; its own Pings and the Pongs keep it up.
  await new Promise((r) => setTimeout(r, 5_000));
  assert.equal(rec.count("reconnecting"), 0);

  h.signal("SIGSTOP"); // the process freezes; its sockets stay open
  t.after(() => h.signal("SIGCONT"));
  await until(() => rec.count("reconnecting") >= 1, "dropped");
  assert.equal(rec.states.find((s) => s.state === "reconnecting")!.error?.code, "silent_server");
  h.signal("SIGCONT");
  await until(() => rec.count("connected") >= 2, "back");
  await api.pushToUsers({ userIds: ["alice"], message: { topic: "t", payload: enc("after") } });
  await until(() => rec.pushes.length === 1, "push after");
});

test("receipts: autoAck acknowledges, and PushToUsers reports it", async (t) => {
  const creds = newCreds();
  const h = await Herald.start(t, creds);
  const api = pushAPI(t, h.grpc, creds.apiKey);
  const acking = startClient(t, { url: h.url, WebSocket, autoAck: true, token: () => mint(creds.secret, "alice") });
  const silent = startClient(t, { url: h.url, WebSocket, token: () => mint(creds.secret, "bob") });
  await until(() => acking.client.state === "connected" && silent.client.state === "connected", "both connected");
  const a = await api.pushToUsers({ userIds: ["alice"], message: { topic: "t", payload: enc("x") }, ackTimeout: { seconds: 10n } });
  assert.deepEqual(
    a.receipts.map((r) => [r.userId, r.acked]),
    [["alice", true]],
  );
  const b = await api.pushToUsers({ userIds: ["bob"], message: { topic: "t", payload: enc("y") }, ackTimeout: { nanos: 300_000_000 } });
  assert.deepEqual(
    b.receipts.map((r) => [r.userId, r.acked]),
    [["bob", false]],
  );
  // ack() by hand, while the call waits.
  const pending = api.pushToUsers({ userIds: ["bob"], message: { topic: "t", payload: enc("z") }, ackTimeout: { seconds: 10n } });
  await until(() => silent.pushes.length === 2, "bob's second push");
  silent.client.ack(silent.pushes[1]);
  assert.deepEqual(
    (await pending).receipts.map((r) => [r.userId, r.acked]),
    [["bob", true]],
  );
});

test("a refused handshake is retried, and in Node the error says why", async (t) => {
  const creds = newCreds();
  const h = await Herald.start(t, creds);
  let calls = 0;
  const rec = startClient(t, {
    url: h.url,
    WebSocket,
    minBackoffMs: 10,
    maxBackoffMs: 50,
    token: () => (++calls === 1 ? mint("not the server's secret", "alice") : mint(creds.secret, "alice")),
  });
  await until(() => rec.client.state === "connected", "connected with the second token");
  const r = rec.last("reconnecting")!;
  assert.equal(r.error?.code, "connection_lost");
  assert.match(r.error!.message, /401/);
});

test("a draining server's reconnect_after replaces the backoff", async (t) => {
  const creds = newCreds();
  const h = await Herald.start(t, creds, ["--drain-timeout", "1s"]);
  // A backoff delay would be about a minute.
  const rec = startClient(t, { url: h.url, WebSocket, minBackoffMs: 60_000, random: () => 0.999, token: () => mint(creds.secret, "alice") });
  await until(() => rec.client.state === "connected", "connected");
  h.signal("SIGTERM");
  await until(() => rec.count("reconnecting") === 1, "reconnecting");
  const r = rec.last("reconnecting")!;
  assert.equal(r.code, 1001);
  assert.equal(r.reason, "server shutting down");
  assert.ok(r.delayMs! < 10_000, `delay ${r.delayMs} ms is the server's reconnect_after, not the backoff's`);
  assert.equal(await h.exited, 0);
});
