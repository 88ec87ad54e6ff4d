import { create } from "@bufbuild/protobuf";
import { StreamPositionSchema, StreamResultSchema } from "./gen/herald/client/v1/client_pb.js";
import type { Push, StreamPosition, StreamResult } from "./gen/herald/client/v1/client_pb.js";
import type { Positions } from "./positions.js";
import { after, type Cancel } from "./timers.js";

/**
 * maxAskedPerStream bounds the Resumes of one stream still waiting for
 * their ResumeResult on a connection: past it a new gap is reported at
 * once instead of asking again, so a server that never answers cannot make
 * the queue below grow.
 */
const maxAskedPerStream = 4;

/** GapIO is what a GapTracker needs from its connection. */
export interface GapIO {
  /** deliver hands a new push to the app. */
  deliver(p: Push): void;
  /** resume sends a Resume naming one stream. */
  resume(sp: StreamPosition): void;
  /** failed reports a stream whose missed pushes will not come. */
  failed(sr: StreamResult): void;
  /** settled runs after a timer delivered pushes, outside any frame. */
  settled(): void;
}

/** Gap is one stream's hole being filled. */
interface Gap {
  stream: string;
  epoch: string;
  /** held are the pushes after the hole, by offset, each offset once. */
  held: Push[];
  /** target is, once the server answered recovered, the offset its replay ends at. */
  target?: bigint;
  /** answered: the ResumeResult arrived. abandoned: given up before it did. */
  answered: boolean;
  abandoned: boolean;
  cancel: Cancel;
}

/**
 * GapTracker decides, per push, whether the app gets it now, never
 * (a duplicate) or after a hole is filled. When a stream's offset jumps in
 * the same epoch (offset > last+1), or a stream the client has a position
 * in starts a new epoch above offset 1 (a position with no epoch, which the
 * Welcome gives a stream never published, included), it holds that push
 * and the stream's later ones, at most bufferSize, and sends a Resume
 * naming that stream with the last delivered position (offset 0 and the
 * new epoch for a new epoch). The replay is delivered, then the held
 * pushes, in order, each once. When the server answers recovered: false, no
 * answer and replay come within timeoutMs, or the buffer overflows, the
 * stream is reported (GapIO.failed), its held pushes are delivered and it
 * moves on. A stream without a position (a group joined after the
 * connect) takes its first push as it comes.
 *
 * The marker of a push that excluded this client's user (Push.excluded)
 * takes its offset like a push: it moves the position and fills a hole,
 * and never reaches the app.
 *
 * ResumeResult carries no request id: results are matched by stream, in
 * the order the Resumes of that stream were sent (the server answers
 * frames in order). One tracker per connection: the next connection's
 * Resume covers whatever this one held.
 */
export class GapTracker {
  private readonly gaps = new Map<string, Gap>();
  // asked is, per stream, who sent each Resume still waiting for its
  // result, oldest first: "connect" for the connect-time Resume.
  private readonly asked = new Map<string, Array<Gap | "connect">>();
  private stopped = false;

  constructor(
    private readonly pos: Positions,
    private readonly io: GapIO,
    private readonly bufferSize: number,
    private readonly timeoutMs: number,
  ) {}

  /** connected records the streams of the Resume sent at connect. */
  connected(streams: readonly StreamPosition[]): void {
    for (const sp of streams) this.ask(sp.stream, "connect");
  }

  /** push routes one push (or marker) from the server. */
  push(p: Push): void {
    if (p.offset === 0n || p.stream === "") {
      if (!p.excluded) this.io.deliver(p); // untracked: no position, no gap
      return;
    }
    let g = this.gaps.get(p.stream);
    if (g && g.epoch !== p.epoch) {
      // The stream's history was lost while a hole was open: the missed
      // pushes cannot come any more.
      this.giveUp(g);
      g = undefined;
    }
    if (g) {
      this.hold(g, p);
      return;
    }
    const cur = this.pos.get(p.stream);
    if (cur && p.offset > (cur.epoch === p.epoch ? cur.offset + 1n : 1n)) {
      this.open(p, cur.epoch === p.epoch ? cur.offset : 0n);
      return;
    }
    this.deliver(p);
  }

  /**
   * result takes one StreamResult of a ResumeResult. It returns false when
   * the result answers the connect-time Resume (or nothing this tracker
   * asked), which the caller handles.
   */
  result(sr: StreamResult): boolean {
    const q = this.asked.get(sr.stream);
    const who = q?.shift();
    if (q && q.length === 0) this.asked.delete(sr.stream);
    if (who === undefined || who === "connect") return false;
    const g = who;
    if (g.abandoned) return true; // the answer to a Resume already given up on
    g.answered = true;
    if (!sr.recovered || sr.epoch !== g.epoch) {
      this.giveUp(g, sr);
      return true;
    }
    g.target = sr.offset;
    this.drain(g);
    return true;
  }

  /** stop drops every hole and its timer: the connection is over. */
  stop(): void {
    this.stopped = true;
    for (const g of this.gaps.values()) g.cancel();
    this.gaps.clear();
    this.asked.clear();
  }

  private deliver(p: Push): void {
    if (this.pos.advance(p) && !p.excluded) this.io.deliver(p);
  }

  // last is the offset delivered in g's epoch: 0 while the stream's
  // position is in another epoch (g fills the start of a new one).
  private last(g: Gap): bigint {
    const cur = this.pos.get(g.stream);
    return cur && cur.epoch === g.epoch ? cur.offset : 0n;
  }

  private ask(stream: string, who: Gap | "connect"): void {
    const q = this.asked.get(stream);
    if (q) q.push(who);
    else this.asked.set(stream, [who]);
  }

  private open(p: Push, last: bigint): void {
    const sp = create(StreamPositionSchema, { stream: p.stream, offset: last, epoch: p.epoch });
    if ((this.asked.get(p.stream)?.length ?? 0) >= maxAskedPerStream) {
      this.io.failed(create(StreamResultSchema, { stream: sp.stream, recovered: false, offset: last, epoch: sp.epoch }));
      this.deliver(p);
      return;
    }
    const g: Gap = {
      stream: p.stream,
      epoch: p.epoch,
      held: [p],
      answered: false,
      abandoned: false,
      cancel: () => {},
    };
    g.cancel = after(this.timeoutMs, () => {
      if (this.stopped || this.gaps.get(g.stream) !== g) return;
      this.giveUp(g);
      this.io.settled();
    });
    this.gaps.set(p.stream, g);
    this.ask(p.stream, g);
    this.io.resume(sp);
  }

  private hold(g: Gap, p: Push): void {
    if (p.offset <= this.last(g)) return; // delivered already
    // Insert by offset; replays arrive in order, so this is mostly an append.
    let i = g.held.length;
    while (i > 0 && g.held[i - 1].offset > p.offset) i--;
    if (i > 0 && g.held[i - 1].offset === p.offset) return; // held already
    g.held.splice(i, 0, p);
    this.drain(g);
    if (this.gaps.get(g.stream) === g && g.held.length > this.bufferSize) this.giveUp(g);
  }

  // drain delivers the held pushes that now follow the stream's position,
  // and closes the hole once the replay has arrived.
  private drain(g: Gap): void {
    let n = 0;
    for (; n < g.held.length; n++) {
      const last = this.last(g);
      const next = g.held[n];
      if (next.offset <= last) continue;
      if (next.offset !== last + 1n) break;
      this.deliver(next);
    }
    g.held.splice(0, n);
    if (g.target === undefined || this.last(g) < g.target) return;
    if (g.held.length === 0) {
      this.close(g);
      return;
    }
    // The replay is complete and a hole remains before the held pushes:
    // what is missing is not in the server's history.
    this.giveUp(g);
  }

  private close(g: Gap): void {
    g.cancel();
    if (this.gaps.get(g.stream) === g) this.gaps.delete(g.stream);
  }

  // giveUp reports the stream, delivers what was held, in order, and moves
  // on; the hole stays a hole.
  private giveUp(g: Gap, sr?: StreamResult): void {
    this.close(g);
    if (!g.answered) g.abandoned = true;
    this.io.failed(sr ?? create(StreamResultSchema, { stream: g.stream, recovered: false, offset: this.last(g), epoch: g.epoch }));
    const held = g.held;
    g.held = [];
    for (const p of held) this.deliver(p);
  }
}
