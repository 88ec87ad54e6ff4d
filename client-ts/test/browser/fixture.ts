import type { Browser, Page } from "playwright-core";
import { fileURLToPath } from "node:url";
import { pushAPI, type API } from "../harness/api.js";
import { bundle, file, launch, serve } from "../harness/browser.js";
import type { Cleanup } from "../harness/cleanup.js";
import { Herald, newCreds, type Creds } from "../harness/herald.js";
import { mint } from "../harness/jwt.js";
import { until } from "../harness/wait.js";

/** Seen is a push as the page recorded it. */
export interface Seen {
  stream: string;
  offset: string;
  payload: string;
}

/** Fixture is a real Herald, a loopback page origin with the bundled SDK, and Chromium. */
export interface Fixture {
  creds: Creds;
  herald: Herald;
  api: API;
  origin: string;
  browser: Browser;
}

const pageEntry = fileURLToPath(new URL("../../../test/browser/page.ts", import.meta.url));

/** setup starts it all; args go to herald serve. */
export async function setup(t: Cleanup, args: string[] = [], creds = newCreds(), herald?: Herald): Promise<Fixture> {
  const h = herald ?? (await Herald.start(t, creds, args));
  const js = await bundle(pageEntry);
  const origin = await serve(t, {
    "/": file("text/html", `<!doctype html><title>herald test</title><script type="module" src="/page.js"></script>`),
    "/page.js": file("text/javascript", js),
    // The page's "backend": mints the token the app asks for.
    "/token": (_req, res, url) => {
      const groups = url.searchParams.get("groups");
      const tok = mint(creds.secret, url.searchParams.get("user") ?? "", {
        ttlMs: Number(url.searchParams.get("ttl") ?? 3_600_000),
        groups: groups ? groups.split(",") : undefined,
      });
      res.writeHead(200, { "content-type": "text/plain", "cache-control": "no-store" }).end(tok);
    },
  });
  return { creds, herald: h, api: pushAPI(t, h.grpc, creds.apiKey), origin, browser: await launch(t) };
}

/** openPage opens the test page in a new context and waits for its harness. */
export async function openPage(t: Cleanup, f: Fixture, init?: () => void): Promise<Page> {
  const ctx = await f.browser.newContext();
  t.after(() => ctx.close());
  const page = await ctx.newPage();
  if (init) await page.addInitScript(init);
  await page.goto(f.origin + "/");
  await page.waitForFunction(() => "harness" in window);
  return page;
}

/** seen returns what the page has received. */
export function seen(page: Page): Promise<Seen[]> {
  return page.evaluate(() => (window as unknown as { harness: { seen: Seen[] } }).harness.seen);
}

/** state returns the page client's state. */
export function state(page: Page): Promise<string> {
  return page.evaluate(() => (window as unknown as { harness: { state(): string } }).harness.state());
}

/** untilPage polls a page predicate. */
export function untilPage(page: Page, what: string, fn: () => boolean, timeoutMs = 30_000): Promise<void> {
  return until(() => page.evaluate(fn), what, timeoutMs);
}
