import type { StreamPosition } from "./gen/herald/client/v1/client_pb.js";
import { mergePosition } from "./positions.js";
import { after, now, type Cancel } from "./timers.js";

/**
 * ackEveryMs is the shortest gap between two automatic Acks of a
 * connection, as in the Go SDK: one Ack per frame would spend the server's
 * per-connection frame budget (client-frames-per-second, 200 by default) on
 * a busy stream; at most 50 Acks a second delay receipts by at most 20 ms.
 */
export const ackEveryMs = 20;

/**
 * Acker coalesces automatic Acks: positions delivered within ackEveryMs of
 * the last Ack go out together when the gap has passed. One per
 * connection; stop() drops what is pending and its timer.
 */
export class Acker {
  private pending: StreamPosition[] = [];
  private last = -Infinity;
  private cancel?: Cancel;
  private stopped = false;

  constructor(private readonly send: (sps: StreamPosition[]) => void) {}

  /** add acks sps now, or with the next flush when an Ack just left. */
  add(sps: readonly StreamPosition[]): void {
    if (this.stopped || sps.length === 0) return;
    for (const sp of sps) mergePosition(this.pending, sp);
    if (this.cancel) return;
    const wait = ackEveryMs - (now() - this.last);
    if (wait > 0) {
      this.cancel = after(wait, () => {
        this.cancel = undefined;
        this.flush();
      });
      return;
    }
    this.flush();
  }

  private flush(): void {
    if (this.stopped || this.pending.length === 0) return;
    const out = this.pending;
    this.pending = [];
    this.last = now();
    this.send(out);
  }

  /** stop drops what is pending (the connection is gone) and its timer. */
  stop(): void {
    this.stopped = true;
    this.pending = [];
    this.cancel?.();
    this.cancel = undefined;
  }
}
