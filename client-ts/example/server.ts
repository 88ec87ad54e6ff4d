// The example app's server: it bundles the page with esbuild and serves it,
// with /token standing in for the app's backend. Run it with `make example`.
import { build } from "esbuild";
import { execFile } from "node:child_process";
import { readFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import { fileURLToPath } from "node:url";

const here = (name: string) => fileURLToPath(new URL(`../../example/${name}`, import.meta.url));

/** Minter returns a client token for a user and comma-separated groups. */
export type Minter = (user: string, groups: string) => Promise<string>;

/** startExample serves the example page on addr ("127.0.0.1:8090"; port 0 picks one). */
export async function startExample(addr: string, mint: Minter): Promise<{ url: string; server: Server }> {
  const out = await build({ entryPoints: [here("main.ts")], bundle: true, format: "esm", target: "es2020", minify: true, write: false, logLevel: "silent" });
  const js = out.outputFiles[0].text;
  const html = await readFile(here("index.html"));
  const server = createServer(async (req, res) => {
    const url = new URL(req.url ?? "/", "http://localhost");
    const send = (type: string, body: string | Buffer, status = 200) => res.writeHead(status, { "content-type": type, "cache-control": "no-store" }).end(body);
    try {
      if (url.pathname === "/") send("text/html", html);
      else if (url.pathname === "/main.js") send("text/javascript", js);
      else if (url.pathname === "/token") send("text/plain", await mint(url.searchParams.get("user") || "alice", url.searchParams.get("groups") ?? ""));
      else send("text/plain", "not found", 404);
    } catch (err) {
      send("text/plain", String(err), 500);
    }
  });
  const [host, port] = [addr.slice(0, addr.lastIndexOf(":")), Number(addr.slice(addr.lastIndexOf(":") + 1))];
  await new Promise<void>((r) => server.listen(port, host, r));
  return { url: `http://${host}:${(server.address() as { port: number }).port}/`, server };
}

/** heraldToken mints with `herald token`, which reads the dev credentials `herald serve` uses. */
export function heraldToken(bin: string): Minter {
  return (user, groups) =>
    new Promise((resolve, reject) =>
      execFile(bin, ["token", "--user", user, "--groups", groups], (err, stdout, stderr) => (err ? reject(new Error(stderr || String(err))) : resolve(stdout.trim()))),
    );
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const addr = process.env.EXAMPLE_ADDR ?? "127.0.0.1:8090";
  const bin = process.env.HERALD_BIN ?? "herald";
  const { url } = await startExample(addr, heraldToken(bin));
  console.log(`example app: open ${url}?ws=ws://127.0.0.1:8080/ws&user=alice&groups=news (herald serve must be running: make run)`);
}
