import { create } from "@bufbuild/protobuf";
import { StreamPositionSchema } from "./gen/herald/client/v1/client_pb.js";
import type { Push, StreamPosition } from "./gen/herald/client/v1/client_pb.js";

/** Position is the last push delivered to the app in one stream. */
export interface Position {
  offset: bigint;
  epoch: string;
}

/**
 * Positions tracks, per stream, the last offset and epoch delivered to the
 * app. It decides which pushes are duplicates, and builds the Resume sent on
 * every connect and the Acks. It survives reconnects: that is its point.
 * It grows by one entry per stream the client receives (its user, its
 * groups, broadcast), which the server bounds.
 */
export class Positions {
  private readonly streams = new Map<string, Position>();

  constructor(initial: readonly StreamPosition[] = []) {
    for (const sp of initial) this.streams.set(sp.stream, { offset: sp.offset, epoch: sp.epoch });
  }

  /** get returns the stream's position, if it has one. */
  get(stream: string): Position | undefined {
    return this.streams.get(stream);
  }

  /**
   * advance records push p as delivered and reports whether the app should
   * see it. A push is a duplicate when its stream, in the same epoch, has
   * already reached its offset: a replay that overlaps what was delivered
   * never reaches the app twice. A push of another epoch is always new: the
   * stream's history was lost and its offsets restarted. Offset 0 is no
   * stream position, so such a push is delivered and not tracked.
   */
  advance(p: Push): boolean {
    if (p.offset === 0n || p.stream === "") return true;
    const cur = this.streams.get(p.stream);
    if (cur && cur.epoch === p.epoch && p.offset <= cur.offset) return false;
    this.streams.set(p.stream, { offset: p.offset, epoch: p.epoch });
    return true;
  }

  /**
   * welcome takes the positions a Welcome carries for the streams that
   * have none: where the stream was when the connection started, before
   * which nothing was the client's. A position the client has stays as it
   * is, whichever way the Welcome's differs. Offset 0 with no epoch is a
   * stream the server had nothing of: its first push starts a new epoch.
   */
  welcome(sps: readonly StreamPosition[]): void {
    for (const sp of sps) {
      if (sp.stream !== "" && !this.streams.has(sp.stream)) this.streams.set(sp.stream, { offset: sp.offset, epoch: sp.epoch });
    }
  }

  /**
   * reset moves a stream to the server's position after the server could
   * not replay what was missed: what follows is new.
   */
  reset(stream: string, offset: bigint, epoch: string): void {
    this.streams.set(stream, { offset, epoch });
  }

  /** snapshot returns every position, sorted by stream. */
  snapshot(): StreamPosition[] {
    return [...this.streams.entries()]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([stream, p]) => create(StreamPositionSchema, { stream, offset: p.offset, epoch: p.epoch }));
  }
}

/**
 * ackPositions returns, for the given pushes, the highest position per
 * stream, in the order streams first appear; untracked pushes (offset 0)
 * are left out.
 */
export function ackPositions(pushes: readonly Push[]): StreamPosition[] {
  const out: StreamPosition[] = [];
  for (const p of pushes) {
    if (p.offset === 0n || p.stream === "") continue;
    mergePosition(out, create(StreamPositionSchema, { stream: p.stream, offset: p.offset, epoch: p.epoch }));
  }
  return out;
}

/** mergePosition adds sp to dst, keeping the highest offset per stream, a newer epoch winning. */
export function mergePosition(dst: StreamPosition[], sp: StreamPosition): void {
  const i = dst.findIndex((q) => q.stream === sp.stream);
  if (i < 0) dst.push(sp);
  else if (dst[i].epoch !== sp.epoch || sp.offset > dst[i].offset) dst[i] = sp;
}
