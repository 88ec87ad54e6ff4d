import assert from "node:assert/strict";
import { test } from "node:test";
import { Herald } from "../harness/herald.js";
import { until } from "../harness/wait.js";
import { openPage, seen, setup, state } from "./fixture.js";

type H = { harness: { start(...a: unknown[]): void; states: { state: string; code?: number; error?: string; delayMs?: number }[] } };
const enc = (s: string) => new TextEncoder().encode(s);
const states = (page: import("playwright-core").Page) => page.evaluate(() => (window as unknown as H).harness.states);

test("in Chromium: offline is noticed by a probe, nothing is dialled while offline, online reconnects at once and resumes", async (t) => {
  const f = await setup(t);
  const page = await openPage(t, f);
  // Reconnect delays of about a minute unless the network comes back.
  await page.evaluate(
    (url) => (window as unknown as H).harness.start(url, "alice", { minBackoffMs: 10, maxBackoffMs: 60_000, probeTimeoutMs: 500 }, { random: 0.999 }),
    f.herald.url,
  );
  await until(async () => (await state(page)) === "connected", "connected");
  await f.api.pushToUsers({ userIds: ["alice"], message: { topic: "t", payload: enc("before") } });
  await until(async () => (await seen(page)).length === 1, "first push");

  await page.context().setOffline(true); // the socket stays open, and carries nothing
  await until(async () => (await state(page)) === "reconnecting", "the probe drops the dead connection");
  assert.equal((await states(page)).at(-1)!.error, "silent_server");
  await f.api.pushToUsers({ userIds: ["alice"], message: { topic: "t", payload: enc("while offline") } });
  await new Promise((r) => setTimeout(r, 1_000));
  assert.equal((await states(page)).filter((s) => s.state === "reconnecting").length, 1, "no dialling while offline");

  await page.context().setOffline(false);
  await until(async () => (await seen(page)).length === 2, "the push made while offline", 20_000);
  assert.deepEqual(
    (await seen(page)).map((s) => s.payload),
    ["before", "while offline"],
  );
});

test("in Chromium: a page shown again reconnects at once instead of waiting out its backoff", async (t) => {
  const f = await setup(t);
  const page = await openPage(t, f);
  await page.evaluate(
    (url) => (window as unknown as H).harness.start(url, "alice", { minBackoffMs: 60_000, maxBackoffMs: 60_000 }, { random: 0.999 }),
    f.herald.url,
  );
  await until(async () => (await state(page)) === "connected", "connected");
  await f.herald.kill();
  await until(async () => (await state(page)) === "reconnecting", "reconnecting");
  assert.ok((await states(page)).at(-1)!.delayMs! > 50_000);
  const h = await Herald.start(t, f.creds, ["--ws-addr", f.herald.ws]);
  // Headless Chromium keeps every page visible: play the browser's part,
  // hidden then visible, with its real event.
  await page.evaluate(() => {
    for (const v of ["hidden", "visible"]) {
      Object.defineProperty(document, "visibilityState", { value: v, configurable: true });
      document.dispatchEvent(new Event("visibilitychange"));
    }
  });
  await until(async () => (await state(page)) === "connected", "connected again, long before the backoff", 20_000);
  void h;
});
