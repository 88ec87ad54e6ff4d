import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { Cleanup } from "./cleanup.js";
import { until } from "./wait.js";

// The tests run the real herald binary and redis-server as processes, on
// loopback ports they pick, and end them by PID.

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "../../../..");

// Every process a test file started, killed if the file's process exits
// before the tests' own cleanup ran.
const running = new Set<ChildProcess>();
process.on("exit", () => {
  for (const p of running) p.kill("SIGKILL");
});

let built: string | undefined;

/**
 * heraldBin is $HERALD_BIN (make test-ts builds it once) or a herald built
 * now from this repository with `go build`.
 */
export function heraldBin(): string {
  if (process.env.HERALD_BIN) return process.env.HERALD_BIN;
  if (!built) {
    built = join(mkdtempSync(join(tmpdir(), "herald-ts-")), "herald");
    execFileSync("go", ["build", "-o", built, "./cmd/herald"], { cwd: repoRoot, stdio: "inherit" });
  }
  return built;
}

/** Creds are a test server's JWT secret and API key: random, never the user's dev credentials. */
export interface Creds {
  secret: string;
  apiKey: string;
}

export function newCreds(): Creds {
  return { secret: randomBytes(32).toString("hex"), apiKey: `key-${randomBytes(8).toString("hex")}` };
}

const servingLine = /msg="herald serving".* ws=ws:\/\/([0-9.:]+)\/ws grpc=([0-9.:]+) admin=http:\/\/([0-9.:]+)/;

/** Herald is one `herald serve` process. */
export class Herald {
  /** ws, grpc and admin are the bound host:port of each listener. */
  ws = "";
  grpc = "";
  admin = "";
  /** exited settles with the exit code (or signal) when the process ends. */
  readonly exited: Promise<number | string>;
  /** log is the server's stderr so far, for failure messages. */
  log = "";
  private readonly proc: ChildProcess;

  private constructor(proc: ChildProcess) {
    this.proc = proc;
    this.exited = new Promise((r) =>
      proc.on("exit", (code, sig) => {
        running.delete(proc);
        r(code ?? sig ?? "?");
      }),
    );
  }

  /** url is the WebSocket endpoint. */
  get url(): string {
    return `ws://${this.ws}/ws`;
  }

  get pid(): number {
    return this.proc.pid!;
  }

  /**
   * start runs `herald serve` on free loopback ports (args may set
   * --ws-addr to reuse one), waits until it serves, and kills it at cleanup.
   */
  static async start(t: Cleanup, creds: Creds, args: string[] = []): Promise<Herald> {
    const dir = mkdtempSync(join(tmpdir(), "herald-ts-run-"));
    const base = ["serve", "--ws-addr", "127.0.0.1:0", "--grpc-addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0"];
    const proc = spawn(heraldBin(), [...base, "--dev-credentials", join(dir, "dev.json"), ...args], {
      env: { ...process.env, HERALD_JWT_SECRET: creds.secret, HERALD_API_KEY: creds.apiKey },
      stdio: ["ignore", "ignore", "pipe"],
    });
    running.add(proc);
    const h = new Herald(proc);
    t.after(() => h.kill());
    proc.stderr!.setEncoding("utf8");
    proc.stderr!.on("data", (chunk: string) => {
      h.log += chunk;
      if (h.log.length > 200_000) h.log = h.log.slice(-100_000);
      const m = servingLine.exec(h.log);
      if (m && !h.ws) [h.ws, h.grpc, h.admin] = [m[1], m[2], m[3]];
      if (process.env.HERALD_TEST_VERBOSE) process.stderr.write(chunk);
    });
    let exit: number | string | undefined;
    void h.exited.then((c) => (exit = c));
    await until(() => h.ws !== "" || exit !== undefined, "herald to serve", 30_000);
    if (!h.ws) throw new Error(`herald exited (${exit}) before serving:\n${h.log}`);
    return h;
  }

  /** signal sends sig to the process. */
  signal(sig: NodeJS.Signals): void {
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill(sig);
  }

  /** kill ends the process (SIGKILL, as a crash) and waits for it. */
  async kill(): Promise<void> {
    this.signal("SIGKILL");
    await this.exited;
  }
}

/** freePort returns a loopback port nobody listens on right now. */
export function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolvePort(port));
    });
  });
}

/** Redis is a redis-server on a free loopback port, no persistence, killed at cleanup. */
export class Redis {
  private constructor(readonly addr: string) {}

  get url(): string {
    return `redis://${this.addr}`;
  }

  static async start(t: Cleanup): Promise<Redis> {
    const port = await freePort();
    const dir = mkdtempSync(join(tmpdir(), "herald-ts-redis-"));
    const proc = spawn("redis-server", ["--bind", "127.0.0.1", "--port", String(port), "--save", "", "--appendonly", "no", "--dir", dir], {
      stdio: ["ignore", "ignore", "pipe"],
    });
    running.add(proc);
    let failed: Error | undefined;
    proc.on("error", (err) => (failed = new Error(`redis-server: ${err.message} (make deps installs it: Debian package redis-server)`)));
    const exited = new Promise((r) => proc.on("exit", r)).then(() => running.delete(proc));
    const r = new Redis(`127.0.0.1:${port}`);
    t.after(async () => {
      proc.kill("SIGKILL");
      await exited;
    });
    await until(async () => failed !== undefined || (await redisPing(port)), "redis-server to answer PING", 10_000);
    if (failed) throw failed;
    return r;
  }
}

function redisPing(port: number): Promise<boolean> {
  return new Promise((resolvePing) => {
    import("node:net").then(({ connect }) => {
      const c = connect(port, "127.0.0.1");
      c.setTimeout(1000);
      c.on("connect", () => c.write("PING\r\n"));
      c.on("data", (d) => {
        resolvePing(d.toString().startsWith("+PONG"));
        c.destroy();
      });
      c.on("error", () => resolvePing(false));
      c.on("timeout", () => {
        resolvePing(false);
        c.destroy();
      });
    });
  });
}
