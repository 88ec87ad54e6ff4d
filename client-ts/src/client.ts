import type { Push, StreamPosition, StreamResult } from "./gen/herald/client/v1/client_pb.js";
import { Backoff } from "./backoff.js";
import { Emitter } from "./emitter.js";
import { offline, watch } from "./environment.js";
import { HeraldError, type ErrorEvent } from "./errors.js";
import { connectURL, resolve, type ClientOptions, type Resolved } from "./options.js";
import { ackPositions, Positions } from "./positions.js";
import { Session, type Outcome, type SessionHost } from "./session.js";
import type { State, StateChange } from "./state.js";
import { after } from "./timers.js";

/** Events are the client's events and what each listener receives. */
export interface Events {
  /** push: one push, delivered once and in order per stream, replays included. */
  push: Push;
  /** state: every state change. */
  state: StateChange;
  /**
   * resumeFailed: pushes of a stream were lost (history trimmed or
   * expired, its epoch changed, or a gap could not be filled): resync that
   * stream from your backend. The client carries on from the result's
   * position.
   */
  resumeFailed: StreamResult;
  /** error: a problem that did not end the connection (see ErrorEvent). */
  error: ErrorEvent;
}

/**
 * HeraldClient holds a WebSocket to Herald, receives pushes, and keeps
 * doing so across network drops, server restarts and drains without losing
 * or repeating a push. It runs on one thread, like everything in
 * JavaScript: listeners run synchronously when a frame arrives and must not
 * block for long (a listener slower than the pushes arrive makes the server
 * close the connection as a slow consumer, 4003, after which the client
 * resumes).
 *
 *     const client = new HeraldClient({ url, token: () => fetchToken() });
 *     client.on("push", (p) => show(p.topic, p.payload));
 *     client.start();
 *     …
 *     await client.close();
 */
export class HeraldClient {
  private readonly opts: Resolved;
  // delivered holds the last delivered offset and epoch per stream; it
  // survives reconnects.
  private readonly delivered: Positions;
  private readonly host: SessionHost; // what each Session sees of the client

  private readonly events: Emitter<Events>;
  private current: State = "idle";
  private session?: Session; // the connection, from dial to end
  private started = false;
  private closing = false;
  private stopWaiting?: () => void; // ends the reconnect wait early (close)
  private wake?: () => void; // the same, for environment hints; unset while the server's reconnect_after runs
  private closed?: Promise<void>; // the run loop's end, once started
  private stopped!: () => void; // resolves closingSignal
  private readonly closingSignal: Promise<void>;

  /** new HeraldClient checks options (a TypeError names the bad one); start() connects. */
  constructor(options: ClientOptions) {
    this.opts = resolve(options);
    this.delivered = new Positions(this.opts.resume);
    this.events = new Emitter<Events>((type, err) => this.listenerThrew(type, err));
    this.host = {
      opts: this.opts,
      positions: this.delivered,
      welcomed: (s, w) => {
        if (s === this.session && !this.closing) this.emitState({ state: "connected", welcome: w });
      },
      push: (p) => {
        if (!this.closing) this.events.emit("push", p);
      },
      resumeFailed: (sr) => {
        if (!this.closing) this.events.emit("resumeFailed", sr);
      },
      error: (e) => this.events.emit("error", e),
    };
    this.closingSignal = new Promise((r) => (this.stopped = r));
  }

  /** state is the current state. */
  get state(): State {
    return this.current;
  }

  /** on adds a listener; it returns the function that removes it. */
  on<K extends keyof Events>(type: K, fn: (ev: Events[K]) => void): () => void {
    return this.events.on(type, fn);
  }

  /** off removes a listener. */
  off<K extends keyof Events>(type: K, fn: (ev: Events[K]) => void): void {
    this.events.off(type, fn);
  }

  /** start connects in the background and stays connected until close(). */
  start(): void {
    if (this.closing) throw new HeraldError("closed", "start after close");
    if (this.started) throw new HeraldError("started", "start: already started");
    this.started = true;
    this.closed = this.run();
  }

  /**
   * close stops reconnecting, closes the connection with 1000 and resolves
   * when the client has stopped: no timer, socket or window listener of
   * the client is left. The final "state" event (closed) comes first. Safe
   * to call more than once, and from a listener.
   */
  close(): Promise<void> {
    if (!this.closing) {
      this.closing = true;
      this.stopped();
      if (!this.started) {
        this.emitState({ state: "closed", error: new HeraldError("closed", "client closed") });
        this.closed = Promise.resolve();
      }
      this.stopWaiting?.();
      this.session?.shutdown();
    }
    return this.closed!;
  }

  /**
   * positions returns, per stream, the last offset and epoch delivered,
   * sorted by stream; for a stream nothing was delivered from yet, the
   * position the Welcome gave (offset 0n and epoch "" for a stream never
   * published). An app that saves them can pass them back as
   * options.resume when it starts again.
   */
  positions(): StreamPosition[] {
    return this.delivered.snapshot();
  }

  /**
   * ack tells the server the app has handled pushes: for each stream, every
   * push up to the highest offset given; with none, every delivered
   * position. It throws HeraldError "not_connected" between connections
   * and "closed" after close().
   */
  ack(...pushes: Push[]): void {
    const s = this.liveSession();
    const sps = pushes.length === 0 ? this.delivered.snapshot() : ackPositions(pushes);
    if (sps.length > 0 && !s.ack(sps)) throw new HeraldError("not_connected", "ack: not connected");
  }

  /**
   * refreshToken hands the live connection a new token now. The client
   * does this by itself before Welcome.token_expires_at (options.refreshToken);
   * the server answers a bad token with an "error" event.
   */
  refreshToken(token: string): void {
    if (typeof token !== "string" || token === "") throw new TypeError("herald: refreshToken: empty token");
    if (!this.liveSession().refresh(token)) throw new HeraldError("not_connected", "refreshToken: not connected");
  }

  /**
   * probe tells the client the network or the app's visibility changed:
   * a client waiting to reconnect dials now, and a connected one checks its
   * connection with a Ping (dropped and redialled without an answer within
   * probeTimeoutMs). Browsers call it by themselves on online, offline and
   * visibilitychange; React Native apps call it from NetInfo and AppState.
   */
  probe(): void {
    if (this.wake) this.wake();
    else this.session?.probe();
  }

  private liveSession(): Session {
    // Closed by close() or, for good, by the server: no connection will come.
    if (this.closing || this.current === "closed") throw new HeraldError("closed", "client closed");
    const s = this.session;
    if (!s || !s.live) throw new HeraldError("not_connected", "not connected");
    return s;
  }

  // run is the run loop: it owns the connect/reconnect cycle and the
  // backoff, and is the only code that starts a connection.
  private async run(): Promise<void> {
    const o = this.opts;
    const unwatch = o.watchEnvironment ? watch({ back: () => this.probe(), lost: () => this.session?.probe() }) : () => {};
    const bo = new Backoff(o.minBackoffMs, o.maxBackoffMs, o.random);
    let failures = 0;
    try {
      this.emitState({ state: "connecting" });
      for (;;) {
        const out = await this.connect();
        if (this.closing) {
          this.emitState({ state: "closed", code: out.code, reason: out.reason, error: new HeraldError("closed", "client closed") });
          return;
        }
        if (!out.reconnect) {
          const error = new HeraldError("disconnected", `disconnected by server: ${out.code ?? "?"} ${out.reason ?? ""}`.trim());
          this.emitState({ state: "closed", code: out.code, reason: out.reason, error });
          return;
        }
        if (out.welcomed && out.uptimeMs >= o.stableAfterMs) {
          bo.reset();
          failures = 0;
        }
        failures++;
        let delayMs = bo.next();
        // The server spreads reconnects after a drain; its word wins.
        if (out.reconnectAfterMs > 0) delayMs = out.reconnectAfterMs;
        this.emitState({ state: "reconnecting", code: out.code, reason: out.reason, error: out.error, delayMs, attempt: failures });
        await this.pause(delayMs, out.reconnectAfterMs === 0);
        // Offline: dialling is pointless; wait for the network, but at most
        // maxBackoffMs at a time (a browser's word on it is not always right).
        while (!this.closing && offline()) await this.pause(o.maxBackoffMs, true);
        if (this.closing) {
          this.emitState({ state: "closed", error: new HeraldError("closed", "client closed") });
          return;
        }
      }
    } finally {
      unwatch();
    }
  }

  // connect makes one connection and resolves when it has ended, or failed
  // to start.
  private async connect(): Promise<Outcome> {
    const o = this.opts;
    const failed = (error: HeraldError): Outcome => ({ error, welcomed: false, uptimeMs: 0, reconnect: true, reconnectAfterMs: 0 });
    let token: string;
    try {
      const t = await Promise.race([Promise.resolve().then(o.token), this.closingSignal]);
      if (this.closing) return failed(new HeraldError("closed", "client closed"));
      if (typeof t !== "string" || t === "") return failed(new HeraldError("empty_token", "token provider returned an empty token"));
      token = t;
    } catch (err) {
      return failed(new HeraldError("token_provider", `token provider: ${String(err)}`, err));
    }
    // Positions are taken before the handshake: the server is told a
    // Resume follows (resume=1) and holds live pushes until it arrives, so
    // replay and live traffic meet with no gap and no duplicate.
    const resume = this.delivered.snapshot();
    const s = new Session(this.host, connectURL(o, token, resume.length > 0), token, resume);
    this.session = s;
    s.open();
    const out = await s.done;
    this.session = undefined;
    return out;
  }

  // pause waits ms, or less when close() (or, if wakeable, a hint from the
  // environment) ends the wait.
  private pause(ms: number, wakeable: boolean): Promise<void> {
    if (this.closing) return Promise.resolve();
    return new Promise((resolveWait) => {
      const done = () => {
        cancel();
        this.stopWaiting = this.wake = undefined;
        resolveWait();
      };
      const cancel = after(ms, done);
      this.stopWaiting = done;
      if (wakeable) this.wake = done;
    });
  }

  private emitState(sc: StateChange): void {
    this.current = sc.state;
    this.events.emit("state", sc);
  }

  private listenerThrew(type: keyof Events, err: unknown): void {
    if (type !== "error") {
      this.events.emit("error", { source: "client", code: "listener_failed", message: `a ${String(type)} listener threw: ${String(err)}`, cause: err });
      return;
    }
    // An error listener threw: hand it to the runtime's own reporting.
    const report = (globalThis as { reportError?: (e: unknown) => void }).reportError;
    if (typeof report === "function") report(err);
  }
}
