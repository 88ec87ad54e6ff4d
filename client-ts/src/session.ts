import { create, fromBinary, toBinary, type MessageInitShape } from "@bufbuild/protobuf";
import type { Duration, Timestamp } from "@bufbuild/protobuf/wkt";
import {
  ClientFrameSchema,
  ServerFrameSchema,
  type Disconnect,
  type Push,
  type StreamPosition,
  type StreamResult,
  type Welcome,
} from "./gen/herald/client/v1/client_pb.js";
import { Acker } from "./acker.js";
import { HeraldError, type ErrorEvent } from "./errors.js";
import { GapTracker } from "./gaps.js";
import { jwtExpiry } from "./jwt.js";
import type { Resolved, WebSocketLike } from "./options.js";
import { ackPositions, type Positions } from "./positions.js";
import { after, now, type Cancel } from "./timers.js";

/** WebSocket readyState OPEN. */
const OPEN = 1;

/** Close codes the client reads (the README's "Close codes" table). */
const codeNormal = 1000;
const codeAbnormal = 1006;
const codeKickedUser = 4002;

/** SessionHost is what a session needs from its client. */
export interface SessionHost {
  readonly opts: Resolved;
  readonly positions: Positions;
  welcomed(s: Session, w: Welcome): void;
  push(p: Push): void;
  resumeFailed(sr: StreamResult): void;
  error(e: ErrorEvent): void;
}

/** Outcome is how a connection, or an attempt at one, ended. */
export interface Outcome {
  error: HeraldError;
  code?: number;
  reason?: string;
  welcomed: boolean;
  /** uptimeMs is the time from Welcome to the end. */
  uptimeMs: number;
  /** reconnect is false when the server said not to come back. */
  reconnect: boolean;
  /** reconnectAfterMs is the server's Disconnect.reconnect_after. */
  reconnectAfterMs: number;
}

const noop = (): void => {};

/** FrameKind is one ClientFrame's content. */
type FrameKind = NonNullable<MessageInitShape<typeof ClientFrameSchema>["kind"]>;

/**
 * Session is one WebSocket connection: it sends Resume first, decodes
 * frames, keeps the heartbeat, refreshes the token, fills gaps and acks.
 * A new session is made for every connect, so nothing from a dead
 * connection (its Disconnect, its timers) leaks into the next. Every timer
 * it starts is cancelled by end(), the one exit, which settles done.
 */
export class Session {
  /** done settles once, when the connection has ended. */
  readonly done: Promise<Outcome>;
  private settle!: (o: Outcome) => void;

  private ws?: WebSocketLike;
  private ended = false;
  private byClient = false; // close() ended it
  private fault?: HeraldError; // why the client dropped it itself
  private closeCode?: number;
  private closeReason?: string;
  private disconnect?: Disconnect; // the server's last word
  private transportError?: string; // the WebSocket's error event, where it tells

  private welcomedAt?: number;
  private heartbeatMs: number;
  private skewMs = 0; // server clock minus client clock, from Welcome
  private lastReceived = now();
  private pingSentAt?: number; // the last Ping, answered once lastReceived >= it
  private nonce = 0n;

  private readonly timers = new Set<Cancel>();
  private readonly acker: Acker;
  private readonly gaps: GapTracker;
  private toAck: Push[] = []; // delivered during the current frame

  constructor(
    private readonly host: SessionHost,
    private readonly url: string,
    private readonly token: string,
    private readonly resume: StreamPosition[],
  ) {
    this.done = new Promise((resolve) => (this.settle = resolve));
    const o = host.opts;
    this.heartbeatMs = o.heartbeatIntervalMs;
    this.acker = new Acker((positions) => this.send({ case: "ack", value: { positions } }));
    this.gaps = new GapTracker(
      host.positions,
      {
        deliver: (p) => this.deliver(p),
        resume: (sp) => this.send({ case: "resume", value: { streams: [sp] } }),
        failed: (sr) => host.resumeFailed(sr),
        settled: () => this.flushAcks(),
      },
      o.gapBufferSize,
      o.gapTimeoutMs,
    );
  }

  /** open dials. */
  open(): void {
    const o = this.host.opts;
    let ws: WebSocketLike;
    try {
      ws =
        o.tokenIn === "header"
          ? new o.WebSocket(this.url, undefined, { headers: { Authorization: `Bearer ${this.token}` } })
          : new o.WebSocket(this.url);
    } catch (err) {
      this.fail(new HeraldError("websocket", `cannot open a WebSocket to ${o.where}`, err));
      return;
    }
    this.ws = ws;
    ws.binaryType = "arraybuffer";
    ws.onopen = () => this.opened();
    ws.onmessage = (ev: { data: unknown }) => this.message(ev.data);
    ws.onclose = (ev: { code?: number; reason?: string }) => this.closed(ev.code, ev.reason);
    // A close event follows; Node's ws says why (say "Unexpected server
    // response: 401"), browsers never do.
    ws.onerror = (ev: { message?: unknown; error?: unknown }) => {
      if (typeof ev?.message === "string" && ev.message !== "") this.transportError = ev.message;
    };
    this.timer(o.handshakeTimeoutMs, () => {
      if (this.welcomedAt === undefined) {
        this.fail(new HeraldError("handshake_timeout", `no Welcome from ${o.where} within ${o.handshakeTimeoutMs}ms`));
      }
    });
  }

  /** live reports whether frames can be sent. */
  get live(): boolean {
    return !this.ended && this.ws?.readyState === OPEN;
  }

  /** send writes one frame; false when the connection is not open. */
  send(kind: FrameKind): boolean {
    if (!this.live) return false;
    try {
      this.ws!.send(toBinary(ClientFrameSchema, create(ClientFrameSchema, { kind })));
      return true;
    } catch {
      return false; // closing under us: the close event follows
    }
  }

  /** ack acknowledges positions at once. */
  ack(positions: StreamPosition[]): boolean {
    return this.send({ case: "ack", value: { positions } });
  }

  /** refresh hands the connection a new token. */
  refresh(token: string): boolean {
    return this.send({ case: "refreshToken", value: { token } });
  }

  /**
   * probe checks a connection that may have died (the network changed, the
   * page was hidden): a Ping that must be answered within probeTimeoutMs.
   */
  probe(): void {
    if (!this.live || this.welcomedAt === undefined) return;
    if (this.pingSentAt === undefined || this.lastReceived >= this.pingSentAt) this.ping();
    const sent = this.pingSentAt!;
    this.timer(this.host.opts.probeTimeoutMs, () => {
      if (this.lastReceived < sent) {
        this.fail(new HeraldError("silent_server", `no answer to a Ping within ${this.host.opts.probeTimeoutMs}ms`));
      }
    });
  }

  /**
   * shutdown closes the connection with 1000 for close(), and ends the
   * session when the server's close frame arrives or closeTimeoutMs passed.
   */
  shutdown(): void {
    if (this.ended) return;
    this.byClient = true;
    try {
      this.ws?.close(codeNormal, "client closed");
    } catch {
      // already closing
    }
    if (!this.ws) {
      this.end();
      return;
    }
    this.timer(this.host.opts.closeTimeoutMs, () => {
      this.ws?.terminate?.();
      this.end();
    });
  }

  private opened(): void {
    if (this.resume.length === 0) return;
    // The first frame: the server holds live pushes until it has answered.
    this.gaps.connected(this.resume);
    this.send({ case: "resume", value: { streams: this.resume } });
  }

  private message(data: unknown): void {
    if (this.ended) return;
    this.lastReceived = now();
    let bytes: Uint8Array;
    if (data instanceof ArrayBuffer) bytes = new Uint8Array(data);
    else if (ArrayBuffer.isView(data)) bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    else {
      const what = typeof data === "string" ? "a text message" : "a message that is not binary";
      this.fail(new HeraldError("bad_frame", `server sent ${what}`));
      return;
    }
    let f;
    try {
      f = fromBinary(ServerFrameSchema, bytes);
    } catch (err) {
      this.fail(new HeraldError("bad_frame", "server sent bytes that are not a ServerFrame", err));
      return;
    }
    const k = f.kind;
    switch (k.case) {
      case "welcome":
        this.welcome(k.value);
        break;
      case "push":
        this.gaps.push(k.value);
        break;
      case "batch":
        for (const p of k.value.pushes) {
          if (this.ended) break; // a listener closed the client
          this.gaps.push(p);
        }
        break;
      case "resumeResult":
        for (const sr of k.value.streams) {
          if (this.ended) break;
          if (this.gaps.result(sr) || sr.recovered) continue;
          // The connect-time Resume: history no longer covers this stream.
          this.host.positions.reset(sr.stream, sr.offset, sr.epoch);
          this.host.resumeFailed(sr);
        }
        break;
      case "error":
        this.host.error({ source: "server", code: k.value.code, message: k.value.message });
        break;
      case "disconnect":
        this.disconnect = k.value;
        break;
      default:
        // pong is only a sign of life, counted above; a frame kind newer
        // than this client is ignored, so the server can add kinds.
        break;
    }
    this.flushAcks();
  }

  private welcome(w: Welcome): void {
    // Before any push of the connection: a position in every stream the
    // connection follows, so that the next Resume names each.
    this.host.positions.welcome(w.streams);
    const first = this.welcomedAt === undefined;
    this.welcomedAt = now();
    const hb = durationMs(w.heartbeatInterval);
    if (hb > 0) this.heartbeatMs = hb;
    if (w.serverTime) this.skewMs = timestampMs(w.serverTime) - now();
    if (first && w.tokenExpiresAt && this.host.opts.refreshToken) this.scheduleRefresh(timestampMs(w.tokenExpiresAt));
    if (first) this.beat();
    this.host.welcomed(this, w);
  }

  private deliver(p: Push): void {
    this.host.push(p);
    if (this.host.opts.autoAck) this.toAck.push(p);
  }

  private flushAcks(): void {
    if (this.toAck.length === 0 || this.ended) return;
    const sps = ackPositions(this.toAck);
    this.toAck = [];
    this.acker.add(sps);
  }

  // beat is the heartbeat, one timer per connection from Welcome on: a
  // Ping once an interval passed in silence, and the end once that Ping
  // went unanswered for two more (three intervals of silence, as the Go
  // SDK allows). Browsers cannot see the server's protocol pings, so the
  // Pong is what proves the server alive. Frames only move lastReceived;
  // the timer, when it fires, moves itself to the next due time, so a busy
  // connection costs one timer per interval, not one per frame. A
  // throttled timer in a background tab fires late, which only delays
  // this: the end needs a Ping sent and nothing heard since.
  private beat(): void {
    if (this.ended) return;
    const t = now();
    const waiting = this.pingSentAt !== undefined && this.lastReceived < this.pingSentAt;
    if (waiting && t - this.pingSentAt! >= 2 * this.heartbeatMs) {
      this.fail(new HeraldError("silent_server", `nothing from the server for ${3 * this.heartbeatMs}ms`));
      return;
    }
    if (!waiting && t - this.lastReceived >= this.heartbeatMs) this.ping();
    const due = this.pingSentAt !== undefined && this.lastReceived < this.pingSentAt ? this.pingSentAt + 2 * this.heartbeatMs : this.lastReceived + this.heartbeatMs;
    this.timer(due - t, () => this.beat());
  }

  private ping(): void {
    this.nonce++;
    this.pingSentAt = now();
    this.send({ case: "ping", value: { nonce: this.nonce } });
  }

  // scheduleRefresh sends RefreshToken before expiresAt (server clock, ms):
  // refreshBeforeMs ahead, or a fifth of the remaining life for a short token.
  private scheduleRefresh(expiresAt: number): void {
    const remaining = expiresAt - (now() + this.skewMs);
    if (remaining <= 0) return;
    const lead = Math.min(this.host.opts.refreshBeforeMs, remaining / 5);
    this.timer(remaining - lead, () => void this.refreshNow(expiresAt));
  }

  private async refreshNow(expiresAt: number): Promise<void> {
    let token: string;
    try {
      token = await this.host.opts.token();
      if (typeof token !== "string" || token === "") throw new HeraldError("empty_token", "token provider returned an empty token");
    } catch (err) {
      if (this.ended) return;
      this.host.error({ source: "client", code: "refresh_failed", message: `token refresh: ${String(err)}`, cause: err });
      // Try again when half the remaining life has passed; at expiry the
      // server closes with 4001 and the reconnect asks for a token anyway.
      const remaining = expiresAt - (now() + this.skewMs);
      if (remaining >= 200) this.timer(remaining / 2, () => void this.refreshNow(expiresAt));
      return;
    }
    if (this.ended || !this.refresh(token)) return;
    const next = jwtExpiry(token);
    // An opaque token's expiry is unknown: the server's 4001 will tell.
    if (next !== undefined && next > expiresAt) this.scheduleRefresh(next);
  }

  private closed(code?: number, reason?: string): void {
    this.closeCode = code;
    this.closeReason = reason;
    this.end();
  }

  /** fail drops the connection because of the server's fault; the client reconnects. */
  private fail(err: HeraldError): void {
    if (this.ended) return;
    this.fault = err;
    const ws = this.ws;
    if (ws) {
      try {
        // Browsers only let scripts send 1000 or 3000-4999: 1000 it is,
        // with the reason; terminate, where there is one, does not wait
        // for a server that may be dead.
        if (ws.terminate) ws.terminate();
        else ws.close(codeNormal, err.message.slice(0, 120));
      } catch {
        // already closing
      }
    }
    this.end();
  }

  private timer(ms: number, fn: () => void): Cancel {
    const cancel = after(ms, () => {
      this.timers.delete(cancel);
      fn();
    });
    this.timers.add(cancel);
    return () => {
      this.timers.delete(cancel);
      cancel();
    };
  }

  // end is the one exit: it cancels every timer, detaches the socket and
  // settles done with the outcome.
  private end(): void {
    if (this.ended) return;
    this.ended = true;
    for (const cancel of this.timers) cancel();
    this.timers.clear();
    this.acker.stop();
    this.gaps.stop();
    if (this.ws) {
      // No-ops, not null: the ws package throws on an error event nobody listens to.
      this.ws.onopen = this.ws.onmessage = this.ws.onclose = this.ws.onerror = noop;
    }
    this.settle(this.outcome());
  }

  private outcome(): Outcome {
    const welcomed = this.welcomedAt !== undefined;
    const o: Outcome = {
      error: new HeraldError("connection_lost", "connection lost"),
      code: this.closeCode,
      reason: this.closeReason || undefined,
      welcomed,
      uptimeMs: welcomed ? now() - this.welcomedAt! : 0,
      reconnect: true,
      reconnectAfterMs: 0,
    };
    const where = this.host.opts.where;
    if (this.byClient) {
      o.error = new HeraldError("closed", "client closed");
      o.code = codeNormal;
      o.reason = "client closed";
      return o;
    }
    if (this.fault) {
      o.error = this.fault;
    } else if (o.code === undefined || o.code === codeAbnormal) {
      const why = this.transportError ? `: ${this.transportError}` : welcomed ? "" : " (network, or handshake refused)";
      o.error = new HeraldError("connection_lost", welcomed ? `connection to ${where} lost${why}` : `cannot connect to ${where}${why}`);
    } else {
      o.error = new HeraldError("closed_by_server", `closed by server: ${o.code}${o.reason ? ` ${o.reason}` : ""}`);
    }
    const d = this.disconnect;
    if (d) {
      if (o.code === undefined || o.code === codeAbnormal) o.code = d.code;
      if (d.reason) o.reason = d.reason;
      o.reconnect = d.reconnect;
      o.reconnectAfterMs = Math.max(0, durationMs(d.reconnectAfter));
    } else if (o.code === codeKickedUser) {
      // Every close the server starts follows a Disconnect; without one,
      // 4002 (DisconnectUser) is the code that means "do not come back".
      o.reconnect = false;
    }
    return o;
  }
}

function durationMs(d?: Duration): number {
  return d ? Number(d.seconds) * 1000 + d.nanos / 1e6 : 0;
}

function timestampMs(t: Timestamp): number {
  return Number(t.seconds) * 1000 + t.nanos / 1e6;
}
