import assert from "node:assert/strict";
import { test } from "node:test";
import { create } from "@bufbuild/protobuf";
import { StreamPositionSchema, type StreamPosition } from "../../src/gen/herald/client/v1/client_pb.js";
import { Acker } from "../../src/acker.js";
import { until } from "../harness/wait.js";

const sp = (stream: string, offset: bigint) => create(StreamPositionSchema, { stream, offset, epoch: "e" });

test("acker sends the first Ack at once and coalesces the next ones", async () => {
  const sent: StreamPosition[][] = [];
  const a = new Acker((sps) => sent.push(sps));
  a.add([sp("user:a", 1n)]);
  assert.equal(sent.length, 1, "first Ack leaves at once");
  a.add([sp("user:a", 2n)]);
  a.add([sp("user:a", 3n), sp("broadcast", 7n)]);
  assert.equal(sent.length, 1, "later ones wait for the gap");
  await until(() => sent.length === 2, "the coalesced Ack");
  assert.deepEqual(
    sent[1].map((s) => [s.stream, s.offset]),
    [
      ["user:a", 3n],
      ["broadcast", 7n],
    ],
  );
  a.stop();
});

test("acker stop drops what is pending and its timer", async () => {
  const sent: StreamPosition[][] = [];
  const a = new Acker((sps) => sent.push(sps));
  a.add([sp("user:a", 1n)]);
  a.add([sp("user:a", 2n)]);
  a.stop();
  await new Promise((r) => setTimeout(r, 60));
  assert.equal(sent.length, 1);
  a.add([sp("user:a", 3n)]);
  assert.equal(sent.length, 1, "nothing after stop");
});
