import assert from "node:assert/strict";
import { test } from "node:test";
import { Backoff } from "../../src/backoff.js";

test("backoff ceilings double from min up to max", () => {
  const b = new Backoff(100, 1000, () => 0.999999);
  assert.deepEqual(
    Array.from({ length: 7 }, () => b.next()),
    [100, 200, 400, 800, 1000, 1000, 1000],
  );
});

test("backoff draws each delay uniformly over [0, ceiling] (full jitter)", () => {
  const low = new Backoff(100, 1000, () => 0);
  assert.deepEqual([low.next(), low.next(), low.next()], [0, 0, 0]);
  const mid = new Backoff(100, 1000, () => 0.5);
  assert.deepEqual([mid.next(), mid.next(), mid.next()], [50, 100, 200]);
});

test("backoff reset starts the growth over", () => {
  const b = new Backoff(100, 1000, () => 0.999999);
  b.next();
  b.next();
  b.next();
  b.reset();
  assert.equal(b.next(), 100);
});

test("backoff never exceeds max, however many attempts", () => {
  const b = new Backoff(1, 30_000, () => 0.999999);
  for (let i = 0; i < 200; i++) assert.ok(b.next() <= 30_000);
});
