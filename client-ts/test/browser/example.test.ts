import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { startExample } from "../../example/server.js";
import { pushAPI } from "../harness/api.js";
import { launch } from "../harness/browser.js";
import { Herald, newCreds } from "../harness/herald.js";
import { mint } from "../harness/jwt.js";
import { until } from "../harness/wait.js";

// Where the screenshot goes: $HERALD_SCREENSHOT (make screenshot-ts
// points it at example/screenshot.png, the one the README shows), else
// under build/.
const shot = process.env.HERALD_SCREENSHOT ?? fileURLToPath(new URL("../../example.png", import.meta.url));
const enc = (s: string) => new TextEncoder().encode(s);

test("the example page shows its state and the pushes as they arrive", async (t) => {
  const creds = newCreds();
  const h = await Herald.start(t, creds);
  const api = pushAPI(t, h.grpc, creds.apiKey);
  const ex = await startExample("127.0.0.1:0", async (user, groups) => mint(creds.secret, user, { groups: groups ? groups.split(",") : undefined }));
  t.after(() => new Promise((r) => ex.server.close(r)));
  const browser = await launch(t);
  const page = await browser.newPage({ viewport: { width: 900, height: 300 } });
  await page.goto(`${ex.url}?ws=${encodeURIComponent(h.url)}&user=alice&groups=news`);
  await until(async () => (await page.textContent("#state")) === "connected", "the page shows connected");

  await api.pushToUsers({ userIds: ["alice"], message: { topic: "greeting", payload: enc("hello alice") } });
  await api.pushToGroups({ groups: ["news"], message: { topic: "headline", payload: enc("Herald ships a TypeScript SDK") } });
  await api.broadcast({ message: { topic: "status", payload: enc("all systems normal") } });
  await until(async () => (await page.locator("#pushes tr").count()) === 3, "three rows");
  const rows = await page.locator("#pushes tr").allTextContents();
  assert.match(rows[0], /broadcast1statusall systems normal/);
  assert.match(rows[2], /user:alice1greetinghello alice/);
  assert.match((await page.textContent("#detail")) ?? "", /session .* on node/);

  await page.waitForTimeout(1600); // let the arrival highlight fade
  mkdirSync(dirname(shot), { recursive: true });
  const png = await page.screenshot({ path: shot });
  assert.equal(png.subarray(1, 4).toString(), "PNG");
  t.diagnostic(`screenshot: ${shot}`);
});
