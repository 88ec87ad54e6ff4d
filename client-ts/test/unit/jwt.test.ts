import assert from "node:assert/strict";
import { test } from "node:test";
import { jwtExpiry } from "../../src/jwt.js";
import { mint } from "../harness/jwt.js";

test("jwtExpiry reads exp and refuses what is not a JWT", () => {
  const tok = mint("secret", "alice", { ttlMs: 60_000 });
  const exp = jwtExpiry(tok)!;
  assert.ok(Math.abs(exp - (Date.now() + 60_000)) < 2_000, String(exp));
  assert.equal(jwtExpiry("opaque-token"), undefined);
  assert.equal(jwtExpiry("a.!!!.c"), undefined);
  assert.equal(jwtExpiry(`a.${Buffer.from('{"exp":"soon"}').toString("base64url")}.c`), undefined);
});
