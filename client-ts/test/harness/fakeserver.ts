import { create, fromBinary, toBinary, type MessageInitShape } from "@bufbuild/protobuf";
import type { IncomingMessage } from "node:http";
import { WebSocketServer, type WebSocket } from "ws";
import { ClientFrameSchema, ServerFrameSchema, type ClientFrame } from "../../src/gen/herald/client/v1/client_pb.js";
import type { Cleanup } from "./cleanup.js";
import { until } from "./wait.js";

/**
 * FakeServer is a scripted Herald on loopback, for protocol behaviour a
 * real server cannot be made to show on demand (a silent server, a text
 * frame, an exact reconnect_after, a gap answer that never comes). Each
 * test drives its connections frame by frame.
 */
export class FakeServer {
  readonly conns: FakeConn[] = [];
  private constructor(private readonly wss: WebSocketServer) {}

  get url(): string {
    return `ws://127.0.0.1:${(this.wss.address() as { port: number }).port}/ws`;
  }

  static async start(t: Cleanup): Promise<FakeServer> {
    const wss = new WebSocketServer({ host: "127.0.0.1", port: 0 });
    await new Promise((r) => wss.once("listening", r));
    const s = new FakeServer(wss);
    wss.on("connection", (ws, req) => s.conns.push(new FakeConn(ws, req)));
    t.after(() => s.stop());
    return s;
  }

  /** conn waits for the n-th connection (from 0). */
  async conn(n: number): Promise<FakeConn> {
    await until(() => this.conns.length > n, `connection #${n}`);
    return this.conns[n];
  }

  /** stop closes the listener and drops every connection. */
  stop(): Promise<void> {
    for (const c of this.conns) c.ws.terminate();
    return new Promise((r) => this.wss.close(() => r()));
  }
}

type Kind = NonNullable<ClientFrame["kind"]["case"]>;
type KindValue<K extends Kind> = Extract<ClientFrame["kind"], { case: K }> extends { value: infer V } ? V : never;

/** FakeConn is one client connection to a FakeServer. */
export class FakeConn {
  /** frames are the client's frames so far; texts counts text messages. */
  readonly frames: ClientFrame[] = [];
  texts = 0;
  closed?: { code: number; reason: string };
  readonly query: URLSearchParams;
  readonly headers: IncomingMessage["headers"];

  constructor(
    readonly ws: WebSocket,
    req: IncomingMessage,
  ) {
    this.query = new URL(req.url ?? "/", "http://x").searchParams;
    this.headers = req.headers;
    ws.on("message", (data, isBinary) => {
      if (!isBinary) {
        this.texts++;
        return;
      }
      this.frames.push(fromBinary(ClientFrameSchema, new Uint8Array(data as Buffer)));
    });
    ws.on("close", (code, reason) => (this.closed = { code, reason: reason.toString() }));
  }

  /** send sends one ServerFrame. */
  send(kind: MessageInitShape<typeof ServerFrameSchema>["kind"]): void {
    this.ws.send(toBinary(ServerFrameSchema, create(ServerFrameSchema, { kind })));
  }

  /**
   * welcome sends a Welcome with the given heartbeat interval (ms), and
   * the stream positions of extra.streams ([stream, offset, epoch]).
   */
  welcome(heartbeatMs = 25_000, extra: { tokenExpiresAt?: number; streams?: Array<[string, number, string]> } = {}): void {
    const ts = (ms: number) => ({ seconds: BigInt(Math.floor(ms / 1000)), nanos: (ms % 1000) * 1e6 });
    this.send({
      case: "welcome",
      value: {
        sessionId: "s1",
        userId: "alice",
        nodeId: "fake",
        heartbeatInterval: { seconds: BigInt(Math.floor(heartbeatMs / 1000)), nanos: (heartbeatMs % 1000) * 1e6 },
        serverTime: ts(Date.now()),
        tokenExpiresAt: extra.tokenExpiresAt === undefined ? undefined : ts(extra.tokenExpiresAt),
        streams: (extra.streams ?? []).map(([stream, offset, epoch]) => ({ stream, offset: BigInt(offset), epoch })),
      },
    });
  }

  /** push sends one Push. */
  push(stream: string, offset: number, epoch = "e1"): void {
    this.send({ case: "push", value: { id: `${stream}#${offset}`, topic: "t", payload: new TextEncoder().encode(`${stream}#${offset}`), stream, offset: BigInt(offset), epoch } });
  }

  /** marker sends the marker of a push that excluded the client's user. */
  marker(stream: string, offset: number, epoch = "e1"): void {
    this.send({ case: "push", value: { id: `${stream}#${offset}`, stream, offset: BigInt(offset), epoch, excluded: true } });
  }

  /** next waits for the client's n-th frame (from 0) of the given kind. */
  async next<K extends Kind>(kind: K, n = 0): Promise<KindValue<K>> {
    let found: ClientFrame | undefined;
    await until(() => (found = this.frames.filter((f) => f.kind.case === kind)[n]) !== undefined, `client frame ${kind} #${n}`);
    return found!.kind.value as KindValue<K>;
  }

  /** count is how many frames of a kind the client sent. */
  count(kind: Kind): number {
    return this.frames.filter((f) => f.kind.case === kind).length;
  }
}
