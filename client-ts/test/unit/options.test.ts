import assert from "node:assert/strict";
import { test } from "node:test";
import WebSocket from "ws";
import { HeraldClient } from "../../src/index.js";
import { connectURL, defaults, resolve } from "../../src/options.js";

const token = () => "t";

test("options are checked, and the error names the option", () => {
  const cases: [object, RegExp][] = [
    [{ token, WebSocket }, /options\.url: required/],
    [{ url: "http://x/ws", token, WebSocket }, /options\.url: must be ws:\/\/ or wss:\/\//],
    [{ url: "ws:///ws", token, WebSocket }, /options\.url/],
    [{ url: "ws://h/ws", WebSocket }, /options\.token: required/],
    [{ url: "ws://h/ws", token, WebSocket, tokenIn: "cookie" }, /options\.tokenIn/],
    [{ url: "ws://h/ws", token }, /options\.WebSocket: no global WebSocket/],
    [{ url: "ws://h/ws", token, WebSocket, minBackoffMs: -1 }, /options\.minBackoffMs: must be a number >= 0/],
    [{ url: "ws://h/ws", token, WebSocket, minBackoffMs: 100, maxBackoffMs: 50 }, /options\.maxBackoffMs/],
    [{ url: "ws://h/ws", token, WebSocket, gapBufferSize: 0 }, /options\.gapBufferSize/],
    [{ url: "ws://h/ws", token, WebSocket, heartbeatIntervalMs: Number.NaN }, /options\.heartbeatIntervalMs/],
    [{ url: "ws://h/ws", token, WebSocket, resume: [{ stream: "", offset: 1, epoch: "e" }] }, /options\.resume\[0\]\.stream: required/],
    [{ url: "ws://h/ws", token, WebSocket, resume: [{ stream: "a", offset: -1, epoch: "e" }] }, /options\.resume\[0\]\.offset: must be >= 0/],
    [{ url: "ws://h/ws", token, WebSocket, resume: [{ stream: "a", offset: 1.5, epoch: "e" }] }, /options\.resume\[0\]\.offset: not an integer/],
    [
      {
        url: "ws://h/ws",
        token,
        WebSocket,
        resume: [
          { stream: "a", offset: 1, epoch: "e" },
          { stream: "a", offset: 2, epoch: "e" },
        ],
      },
      /options\.resume\[1\]\.stream: "a" appears twice/,
    ],
  ];
  for (const [opts, want] of cases) {
    assert.throws(() => new HeraldClient(opts as never), want, JSON.stringify(opts));
  }
});

test("defaults fill what is left out", () => {
  const r = resolve({ url: "wss://push.example.com/ws?app=1#frag", token, WebSocket });
  assert.equal(r.url, "wss://push.example.com/ws?app=1");
  assert.equal(r.where, "wss://push.example.com/ws", "no query: it may carry a token");
  assert.equal(r.minBackoffMs, defaults.minBackoffMs);
  assert.equal(r.maxBackoffMs, defaults.maxBackoffMs);
  assert.equal(r.tokenIn, "query");
  assert.equal(r.refreshToken, true);
  assert.equal(resolve({ url: "ws://h/ws", token, WebSocket, minBackoffMs: 60_000 }).maxBackoffMs, 60_000);
});

test("a saved position at offset 0 (a stream before its first push) is taken", () => {
  const r = resolve({ url: "ws://h/ws", token, WebSocket, resume: [{ stream: "group:news", offset: 0, epoch: "" }] });
  assert.deepEqual(
    r.resume.map((s) => [s.stream, s.offset, s.epoch]),
    [["group:news", 0n, ""]],
  );
});

test("connect URLs carry the token and resume=1", () => {
  const r = resolve({ url: "ws://h/ws", token, WebSocket });
  assert.equal(connectURL(r, "a b", false), "ws://h/ws?token=a%20b");
  assert.equal(connectURL(r, "t", true), "ws://h/ws?token=t&resume=1");
  const q = resolve({ url: "ws://h/ws?x=1", token, WebSocket, tokenIn: "header" });
  assert.equal(connectURL(q, "t", true), "ws://h/ws?x=1&resume=1");
  assert.equal(connectURL(q, "t", false), "ws://h/ws?x=1");
});
