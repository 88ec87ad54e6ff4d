import { build } from "esbuild";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { chromium, type Browser } from "playwright-core";
import type { Cleanup } from "./cleanup.js";

/**
 * chromiumPath is Debian's Chromium (make deps installs it); the tests never
 * download a browser. $CHROMIUM overrides it.
 */
export const chromiumPath = process.env.CHROMIUM ?? "/usr/bin/chromium";

/**
 * chromiumFlags keep Chromium quiet on a machine with no internet: no
 * background or component traffic, no sandbox (the tests may run as root).
 */
export const chromiumFlags = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/**
 * launch starts headless Chromium and closes it at cleanup. A browser that
 * cannot start fails the test with the reason: the browser tests never
 * skip.
 */
export async function launch(t: Cleanup): Promise<Browser> {
  let browser: Browser;
  try {
    browser = await chromium.launch({ executablePath: chromiumPath, headless: true, args: chromiumFlags, timeout: 60_000 });
  } catch (err) {
    throw new Error(`Chromium did not start from ${chromiumPath} (make deps installs Debian's chromium): ${String(err)}`);
  }
  t.after(() => browser.close());
  return browser;
}

/** bundle builds one browser script (ESM) from a TypeScript entry with esbuild. */
export async function bundle(entry: string, minify = false): Promise<string> {
  const out = await build({ entryPoints: [entry], bundle: true, format: "esm", platform: "browser", target: "es2020", minify, write: false, logLevel: "silent" });
  return out.outputFiles[0].text;
}

/** Route answers one path of a static server. */
export type Route = (req: IncomingMessage, res: ServerResponse, url: URL) => void | Promise<void>;

/**
 * serve starts an HTTP server on a loopback port with the given routes
 * (path → handler) and returns its base URL. Pages must come from a
 * loopback origin: Chromium refuses a WebSocket to 127.0.0.1 from
 * about:blank or data: pages (local network access checks).
 */
export async function serve(t: Cleanup, routes: Record<string, Route>): Promise<string> {
  const srv = createServer(async (req, res) => {
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    const route = routes[url.pathname];
    if (!route) {
      res.writeHead(404).end("not found");
      return;
    }
    try {
      await route(req, res, url);
    } catch (err) {
      res.writeHead(500).end(String(err));
    }
  });
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  t.after(() => {
    srv.closeAllConnections();
    return new Promise((r) => srv.close(r));
  });
  return `http://127.0.0.1:${(srv.address() as { port: number }).port}`;
}

/** file answers with a fixed body. */
export const file =
  (type: string, body: string | Buffer): Route =>
  (_req, res) => {
    res.writeHead(200, { "content-type": type, "cache-control": "no-store" }).end(body);
  };
