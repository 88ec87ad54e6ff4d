import assert from "node:assert/strict";
import { test } from "node:test";
import { create } from "@bufbuild/protobuf";
import { PushSchema, StreamPositionSchema, StreamResultSchema, type StreamPosition, type StreamResult } from "../../src/gen/herald/client/v1/client_pb.js";
import { GapTracker } from "../../src/gaps.js";
import { Positions } from "../../src/positions.js";
import { until } from "../harness/wait.js";

const push = (stream: string, offset: number, epoch = "e1") => create(PushSchema, { stream, offset: BigInt(offset), epoch, topic: `${stream}#${offset}` });
const result = (stream: string, recovered: boolean, offset: number, epoch = "e1") => create(StreamResultSchema, { stream, recovered, offset: BigInt(offset), epoch });

// harness: a tracker whose positions start at 2 in user:a and broadcast.
function setup(bufferSize = 100, timeoutMs = 60_000) {
  const pos = new Positions([
    create(StreamPositionSchema, { stream: "user:a", offset: 2n, epoch: "e1" }),
    create(StreamPositionSchema, { stream: "broadcast", offset: 2n, epoch: "e1" }),
  ]);
  const got: string[] = [];
  const asked: StreamPosition[] = [];
  const failed: StreamResult[] = [];
  let settled = 0;
  const g = new GapTracker(
    pos,
    {
      deliver: (p) => got.push(p.topic),
      resume: (sp) => asked.push(sp),
      failed: (sr) => failed.push(sr),
      settled: () => settled++,
    },
    bufferSize,
    timeoutMs,
  );
  return { g, pos, got, asked, failed, settled: () => settled };
}

test("pushes in order pass and duplicates are dropped", () => {
  const { g, got, asked } = setup();
  for (const o of [3, 3, 2, 4]) g.push(push("user:a", o));
  assert.deepEqual(got, ["user:a#3", "user:a#4"]);
  assert.equal(asked.length, 0);
});

test("a jump holds the push, resumes that stream only, then delivers replay and held pushes once, in order", () => {
  const { g, got, asked, failed } = setup();
  g.push(push("user:a", 5));
  g.push(push("user:a", 6));
  g.push(push("broadcast", 3)); // other streams flow meanwhile
  assert.deepEqual(got, ["broadcast#3"]);
  assert.deepEqual(
    asked.map((a) => [a.stream, a.offset, a.epoch]),
    [["user:a", 2n, "e1"]],
  );
  // The server's history head was 4 when it answered: it replays 3 and 4;
  // 5 and 6 are the held live pushes.
  assert.equal(g.result(result("user:a", true, 4)), true);
  g.push(push("user:a", 3));
  g.push(push("user:a", 4));
  g.push(push("user:a", 7));
  assert.deepEqual(got, ["broadcast#3", "user:a#3", "user:a#4", "user:a#5", "user:a#6", "user:a#7"]);
  assert.equal(failed.length, 0);
});

test("a replay that also carries the held pushes delivers each once", () => {
  const { g, got } = setup();
  g.push(push("user:a", 5));
  g.result(result("user:a", true, 6));
  for (const o of [3, 4, 5, 6, 5, 7]) g.push(push("user:a", o));
  assert.deepEqual(got, ["user:a#3", "user:a#4", "user:a#5", "user:a#6", "user:a#7"]);
});

test("recovered: false reports the stream, then delivers what was held and moves on", () => {
  const { g, got, failed } = setup();
  g.push(push("user:a", 5));
  g.push(push("user:a", 6));
  const sr = result("user:a", false, 6);
  assert.equal(g.result(sr), true);
  assert.deepEqual(failed, [sr]);
  g.push(push("user:a", 7));
  assert.deepEqual(got, ["user:a#5", "user:a#6", "user:a#7"]);
});

test("no answer within the timeout: reported, held delivered, a late answer ignored", async () => {
  const { g, got, failed, settled } = setup(100, 30);
  g.push(push("user:a", 5));
  await until(() => failed.length === 1, "the timeout");
  assert.deepEqual([failed[0].stream, failed[0].recovered, failed[0].offset], ["user:a", false, 2n]);
  assert.deepEqual(got, ["user:a#5"]);
  assert.equal(settled(), 1, "acks flushed after a timer delivered");
  // The late answer and its replay change nothing.
  assert.equal(g.result(result("user:a", true, 5)), true);
  for (const o of [3, 4, 5]) g.push(push("user:a", o));
  g.push(push("user:a", 6));
  assert.deepEqual(got, ["user:a#5", "user:a#6"]);
  assert.equal(failed.length, 1);
});

test("a buffer overflow reports the stream and delivers what was held", () => {
  const { g, got, failed } = setup(3);
  for (const o of [5, 6, 7]) g.push(push("user:a", o));
  assert.equal(failed.length, 0);
  g.push(push("user:a", 8));
  assert.equal(failed.length, 1);
  assert.deepEqual(got, ["user:a#5", "user:a#6", "user:a#7", "user:a#8"]);
});

test("results are matched by stream, whatever their order", () => {
  const { g, got, asked, failed } = setup();
  g.push(push("user:a", 4));
  g.push(push("broadcast", 5));
  assert.equal(asked.length, 2);
  assert.equal(g.result(result("broadcast", true, 5)), true);
  g.push(push("broadcast", 3));
  g.push(push("broadcast", 4));
  assert.equal(g.result(result("user:a", false, 9)), true);
  assert.deepEqual(got, ["broadcast#3", "broadcast#4", "broadcast#5", "user:a#4"]);
  assert.deepEqual(
    failed.map((f) => f.stream),
    ["user:a"],
  );
});

test("answers to the connect-time Resume are left to the caller", () => {
  const { g } = setup();
  g.connected([create(StreamPositionSchema, { stream: "user:a", offset: 2n, epoch: "e1" })]);
  g.push(push("user:a", 5)); // a gap opened before the connect answer came
  assert.equal(g.result(result("user:a", true, 2)), false, "the first answer is the connect's");
  assert.equal(g.result(result("user:a", true, 5)), true, "the second the gap's");
  assert.equal(g.result(result("user:a", true, 5)), false, "nothing asked: the caller's");
});

test("a new epoch while a gap is open gives the gap up", () => {
  const { g, got, failed } = setup();
  g.push(push("user:a", 5));
  g.push(push("user:a", 1, "e2"));
  assert.equal(failed.length, 1);
  assert.deepEqual(got, ["user:a#5", "user:a#1"]);
});

test("a replay that ends before the hole is filled gives the gap up", () => {
  const { g, got, failed } = setup();
  g.push(push("user:a", 6));
  g.result(result("user:a", true, 4));
  g.push(push("user:a", 3));
  g.push(push("user:a", 4));
  assert.equal(failed.length, 1);
  assert.deepEqual(got, ["user:a#3", "user:a#4", "user:a#6"]);
});

test("stop cancels the gap timers", async () => {
  const { g, failed } = setup(100, 20);
  g.push(push("user:a", 5));
  g.stop();
  await new Promise((r) => setTimeout(r, 60));
  assert.equal(failed.length, 0);
});

const marker = (stream: string, offset: number, epoch = "e1") => create(PushSchema, { stream, offset: BigInt(offset), epoch, excluded: true });

test("markers of pushes that excluded this user take their offsets and never reach the app", () => {
  const { g, pos, got, asked, failed } = setup();
  g.push(marker("user:a", 3));
  g.push(push("user:a", 4));
  g.push(marker("user:a", 5));
  g.push(marker("user:a", 0)); // untracked: dropped
  assert.deepEqual(got, ["user:a#4"]);
  assert.deepEqual(pos.get("user:a"), { offset: 5n, epoch: "e1" });
  // A gap whose replay carries markers is filled, nothing reported.
  g.push(push("user:a", 8));
  assert.equal(asked.length, 1);
  g.result(result("user:a", true, 8));
  g.push(marker("user:a", 6));
  g.push(push("user:a", 7));
  assert.deepEqual(got, ["user:a#4", "user:a#7", "user:a#8"]);
  assert.equal(failed.length, 0);
});

test("a stream the server had nothing of (offset 0, no epoch) starts at 1; a first push above is a gap from 0", () => {
  const { g, pos, got, asked, failed } = setup();
  pos.welcome([create(StreamPositionSchema, { stream: "group:news", offset: 0n, epoch: "" }), create(StreamPositionSchema, { stream: "group:new", offset: 0n, epoch: "" })]);
  g.push(push("group:new", 1, "n"));
  g.push(push("group:news", 3, "n"));
  assert.deepEqual(got, ["group:new#1"]);
  assert.deepEqual(
    asked.map((a) => [a.stream, a.offset, a.epoch]),
    [["group:news", 0n, "n"]],
  );
  g.result(result("group:news", true, 3, "n"));
  g.push(push("group:news", 1, "n"));
  g.push(push("group:news", 2, "n"));
  assert.deepEqual(got, ["group:new#1", "group:news#1", "group:news#2", "group:news#3"]);
  assert.equal(failed.length, 0);
});

test("a new epoch starting above 1 is a gap from 0 of that epoch", () => {
  const { g, got, asked, failed } = setup();
  g.push(push("user:a", 3, "e2"));
  assert.deepEqual(
    asked.map((a) => [a.stream, a.offset, a.epoch]),
    [["user:a", 0n, "e2"]],
  );
  g.result(result("user:a", true, 3, "e2"));
  for (const o of [1, 2, 3]) g.push(push("user:a", o, "e2"));
  assert.deepEqual(got, ["user:a#1", "user:a#2", "user:a#3"]);
  assert.equal(failed.length, 0);
});
