import { create } from "@bufbuild/protobuf";
import { StreamPositionSchema, type StreamPosition } from "./gen/herald/client/v1/client_pb.js";

/**
 * WebSocketLike is the part of the WHATWG WebSocket the client uses: the
 * browsers', React Native's and the `ws` package's all fit. Event
 * parameters are loosely typed so that each runtime's own event types fit.
 */
export interface WebSocketLike {
  binaryType: string;
  readonly readyState: number;
  send(data: Uint8Array): void;
  close(code?: number, reason?: string): void;
  /** terminate, where the runtime has it (the `ws` package), drops the socket at once. */
  terminate?(): void;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  onopen: ((ev: any) => void) | null;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  onmessage: ((ev: any) => void) | null;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  onclose: ((ev: any) => void) | null;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  onerror: ((ev: any) => void) | null;
}

/**
 * WebSocketConstructor builds a WebSocketLike. The third argument is
 * passed only with tokenIn "header" ({ headers: { Authorization } }), which
 * React Native and the `ws` package understand and browsers do not.
 */
export type WebSocketConstructor = new (
  url: string,
  protocols?: string | string[],
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  options?: any,
) => WebSocketLike;

/** StreamPositionInit is a saved position: from client.positions(), or built by hand. */
export interface StreamPositionInit {
  stream: string;
  offset: bigint | number;
  epoch: string;
}

/**
 * ClientOptions configures a HeraldClient. Only url and token are
 * required; every duration is in milliseconds.
 */
export interface ClientOptions {
  /** url is the WebSocket endpoint, ws:// or wss://, e.g. "wss://push.example.com/ws". */
  url: string;
  /**
   * token returns the JWT. It is called before every connect and
   * reconnect (after close code 4001, token expired, it must return a fresh
   * one) and when a refresh is due, so it should mint or fetch a current
   * token each time.
   */
  token: () => string | Promise<string>;
  /**
   * tokenIn says how the token travels: "query" (default), the `token`
   * query parameter, the only way a browser can send it; "header",
   * `Authorization: Bearer`, which keeps it out of URLs and access logs
   * where the WebSocket takes headers (React Native, the `ws` package).
   */
  tokenIn?: "query" | "header";
  /**
   * WebSocket is the WebSocket constructor; default the global one
   * (browsers, React Native, Node 22+). On Node 20 pass the `ws` package's.
   */
  WebSocket?: WebSocketConstructor;
  /**
   * autoAck sends Acks of the delivered pushes after the listeners ran,
   * coalesced to at most one per 20 ms; backends use Acks for receipts.
   */
  autoAck?: boolean;
  /** resume holds positions to resume from on the first connect (saved from positions()). */
  resume?: readonly StreamPositionInit[];

  /** minBackoffMs is the ceiling of the first reconnect delay; it doubles per failure. Default 500. */
  minBackoffMs?: number;
  /** maxBackoffMs caps the reconnect delay the client chooses. Default 30000. */
  maxBackoffMs?: number;
  /** stableAfterMs is how long a connection must stay up for the backoff to start over. Default 60000. */
  stableAfterMs?: number;
  /** handshakeTimeoutMs bounds the WebSocket handshake plus the wait for Welcome. Default 10000. */
  handshakeTimeoutMs?: number;
  /**
   * heartbeatIntervalMs is used when Welcome carries no heartbeat_interval.
   * After an interval without a frame the client sends a Ping; after two
   * more without an answer it drops the connection. Default 25000.
   */
  heartbeatIntervalMs?: number;
  /**
   * probeTimeoutMs is how long a Ping sent on a hint that the network
   * changed (online, offline, page shown again, probe()) may go
   * unanswered before the connection is dropped. Default 5000.
   */
  probeTimeoutMs?: number;
  /** refreshToken sends RefreshToken before Welcome.token_expires_at. Default true. */
  refreshToken?: boolean;
  /**
   * refreshBeforeMs is how long before the token expires the refresh is
   * sent (at most a fifth of the token's remaining life). Default 120000:
   * Chrome wakes timers of a page hidden for five minutes once a minute,
   * so a refresh can run up to a minute late.
   */
  refreshBeforeMs?: number;
  /** gapTimeoutMs bounds the wait for a gap's ResumeResult and replay. Default 5000. */
  gapTimeoutMs?: number;
  /** gapBufferSize bounds the pushes held per stream behind a gap. Default 1000. */
  gapBufferSize?: number;
  /** closeTimeoutMs bounds how long close() waits for the server's close frame. Default 2000. */
  closeTimeoutMs?: number;
  /**
   * watchEnvironment listens, where the runtime has them (browsers), to
   * online/offline and page visibility: reconnect at once when the network
   * or the page comes back, check the connection with a Ping when it may
   * have died, and wait for the network instead of dialling while offline.
   * Default true.
   */
  watchEnvironment?: boolean;
  /** random returns a uniform number in [0, 1) for the backoff jitter. Default Math.random. */
  random?: () => number;
}

/** Resolved is ClientOptions with every default filled in and checked. */
export interface Resolved {
  url: string;
  where: string;
  token: () => string | Promise<string>;
  tokenIn: "query" | "header";
  WebSocket: WebSocketConstructor;
  autoAck: boolean;
  resume: StreamPosition[];
  minBackoffMs: number;
  maxBackoffMs: number;
  stableAfterMs: number;
  handshakeTimeoutMs: number;
  heartbeatIntervalMs: number;
  probeTimeoutMs: number;
  refreshToken: boolean;
  refreshBeforeMs: number;
  gapTimeoutMs: number;
  gapBufferSize: number;
  closeTimeoutMs: number;
  watchEnvironment: boolean;
  random: () => number;
}

/** Defaults are the values of the options left out. */
export const defaults = {
  minBackoffMs: 500,
  maxBackoffMs: 30_000,
  stableAfterMs: 60_000,
  handshakeTimeoutMs: 10_000,
  heartbeatIntervalMs: 25_000,
  probeTimeoutMs: 5_000,
  refreshBeforeMs: 120_000,
  gapTimeoutMs: 5_000,
  gapBufferSize: 1_000,
  closeTimeoutMs: 2_000,
} as const;

/**
 * resolve fills in defaults and checks every option, throwing a TypeError
 * that names the first bad one. It is the one place defaults live.
 */
export function resolve(o: ClientOptions): Resolved {
  const bad = (name: string, why: string): never => {
    throw new TypeError(`herald: options.${name}: ${why}`);
  };
  if (typeof o !== "object" || o === null) bad("", "an options object is required");
  if (typeof o.url !== "string" || o.url === "") bad("url", "required");
  const m = /^(wss?):\/\/([^/?#]+)([^?#]*)(\?[^#]*)?/i.exec(o.url);
  if (!m) bad("url", `must be ws:// or wss:// with a host, got ${JSON.stringify(o.url.split("?")[0])}`);
  if (typeof o.token !== "function") bad("token", "required: a function returning the JWT");
  if (o.tokenIn !== undefined && o.tokenIn !== "query" && o.tokenIn !== "header") bad("tokenIn", `must be "query" or "header"`);
  const WS = o.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
  if (typeof WS !== "function") {
    bad("WebSocket", "no global WebSocket here (Node before 22): pass one, e.g. `import WebSocket from \"ws\"`");
  }
  const ms = (name: keyof typeof defaults, min: number): number => {
    const v = o[name] ?? defaults[name];
    if (typeof v !== "number" || !Number.isFinite(v) || v < min) bad(name, `must be a number >= ${min}, got ${String(v)}`);
    return v;
  };
  const r: Resolved = {
    url: o.url.split("#")[0],
    where: `${m![1].toLowerCase()}://${m![2]}${m![3]}`,
    token: o.token,
    tokenIn: o.tokenIn ?? "query",
    WebSocket: WS!,
    autoAck: o.autoAck ?? false,
    resume: [],
    minBackoffMs: ms("minBackoffMs", 0),
    maxBackoffMs: 0,
    stableAfterMs: ms("stableAfterMs", 0),
    handshakeTimeoutMs: ms("handshakeTimeoutMs", 1),
    heartbeatIntervalMs: ms("heartbeatIntervalMs", 1),
    probeTimeoutMs: ms("probeTimeoutMs", 1),
    refreshToken: o.refreshToken ?? true,
    refreshBeforeMs: ms("refreshBeforeMs", 0),
    gapTimeoutMs: ms("gapTimeoutMs", 1),
    gapBufferSize: ms("gapBufferSize", 1),
    closeTimeoutMs: ms("closeTimeoutMs", 0),
    watchEnvironment: o.watchEnvironment ?? true,
    random: o.random ?? Math.random,
  };
  r.maxBackoffMs = o.maxBackoffMs ?? Math.max(defaults.maxBackoffMs, r.minBackoffMs);
  if (typeof r.maxBackoffMs !== "number" || !(r.maxBackoffMs >= r.minBackoffMs)) {
    bad("maxBackoffMs", `must be a number >= minBackoffMs (${r.minBackoffMs}), got ${String(o.maxBackoffMs)}`);
  }
  if (typeof r.random !== "function") bad("random", "must be a function");
  const seen = new Set<string>();
  (o.resume ?? []).forEach((sp, i) => {
    if (typeof sp?.stream !== "string" || sp.stream === "") bad(`resume[${i}].stream`, "required");
    let offset: bigint;
    try {
      offset = BigInt(sp.offset);
    } catch {
      return bad(`resume[${i}].offset`, `not an integer: ${String(sp.offset)}`);
    }
    // 0: before the stream's first push, as a Welcome gives a stream never published.
    if (offset < 0n) bad(`resume[${i}].offset`, "must be >= 0");
    if (seen.has(sp.stream)) bad(`resume[${i}].stream`, `${JSON.stringify(sp.stream)} appears twice`);
    seen.add(sp.stream);
    r.resume.push(create(StreamPositionSchema, { stream: sp.stream, offset, epoch: String(sp.epoch ?? "") }));
  });
  return r;
}

/**
 * connectURL is the URL of one connection attempt: the token as the
 * `token` query parameter (unless it travels in a header) and resume=1
 * when a Resume will be the first frame. Built by hand: React Native's URL
 * class cannot set query parameters.
 */
export function connectURL(r: Resolved, token: string, resume: boolean): string {
  const params: string[] = [];
  if (r.tokenIn === "query") params.push(`token=${encodeURIComponent(token)}`);
  if (resume) params.push("resume=1");
  if (params.length === 0) return r.url;
  return r.url + (r.url.includes("?") ? "&" : "?") + params.join("&");
}
