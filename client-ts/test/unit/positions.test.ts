import assert from "node:assert/strict";
import { test } from "node:test";
import { create } from "@bufbuild/protobuf";
import { PushSchema, StreamPositionSchema } from "../../src/gen/herald/client/v1/client_pb.js";
import { ackPositions, Positions } from "../../src/positions.js";

const push = (stream: string, offset: bigint, epoch = "e1") => create(PushSchema, { stream, offset, epoch });

test("positions drop what was delivered and accept a new epoch", () => {
  const p = new Positions();
  assert.equal(p.advance(push("user:a", 1n)), true);
  assert.equal(p.advance(push("user:a", 2n)), true);
  assert.equal(p.advance(push("user:a", 2n)), false, "duplicate");
  assert.equal(p.advance(push("user:a", 1n)), false, "older");
  assert.equal(p.advance(push("user:a", 1n, "e2")), true, "new epoch restarts offsets");
  assert.equal(p.advance(push("user:a", 0n)), true, "offset 0 is untracked");
  assert.deepEqual(p.get("user:a"), { offset: 1n, epoch: "e2" });
});

test("positions start from saved ones, reset, and snapshot sorted by stream", () => {
  const p = new Positions([create(StreamPositionSchema, { stream: "user:a", offset: 5n, epoch: "e1" })]);
  assert.equal(p.advance(push("user:a", 5n)), false);
  p.advance(push("broadcast", 3n));
  p.reset("user:a", 9n, "e2");
  assert.deepEqual(
    p.snapshot().map((s) => [s.stream, s.offset, s.epoch]),
    [
      ["broadcast", 3n, "e1"],
      ["user:a", 9n, "e2"],
    ],
  );
});

test("ackPositions keeps the highest offset per stream, a new epoch winning", () => {
  const sps = ackPositions([push("user:a", 1n), push("broadcast", 4n), push("user:a", 3n), push("user:a", 2n), push("broadcast", 1n, "e2"), push("x", 0n)]);
  assert.deepEqual(
    sps.map((s) => [s.stream, s.offset, s.epoch]),
    [
      ["user:a", 3n, "e1"],
      ["broadcast", 1n, "e2"],
    ],
  );
});

test("a Welcome's positions fill the streams without one and move none the client has", () => {
  const p = new Positions([create(StreamPositionSchema, { stream: "user:a", offset: 7n, epoch: "u" })]);
  p.welcome([
    create(StreamPositionSchema, { stream: "user:a", offset: 9n, epoch: "u" }),
    create(StreamPositionSchema, { stream: "broadcast", offset: 0n, epoch: "" }),
    create(StreamPositionSchema, { stream: "group:news", offset: 41n, epoch: "n" }),
  ]);
  assert.deepEqual(
    p.snapshot().map((s) => [s.stream, s.offset, s.epoch]),
    [
      ["broadcast", 0n, ""],
      ["group:news", 41n, "n"],
      ["user:a", 7n, "u"],
    ],
  );
  assert.equal(p.advance(push("group:news", 41n, "n")), false, "at the Welcome's position: not the client's");
});
