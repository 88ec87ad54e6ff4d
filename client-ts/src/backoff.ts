/**
 * Backoff is the reconnect delay policy, the Go SDK's: exponential growth
 * with full jitter. The n-th consecutive delay (n from 0) is uniform in
 * [0, min(max, min·2ⁿ)]: spreading each delay over its whole range keeps a
 * crowd of clients that lost the same server from coming back in waves.
 */
export class Backoff {
  // attempt counts delays handed out since the last reset; it stops
  // growing once the ceiling reaches max.
  private attempt = 0;

  constructor(
    private readonly minMs: number,
    private readonly maxMs: number,
    /** random returns a uniform number in [0, 1), as Math.random. */
    private readonly random: () => number,
  ) {}

  /** ceiling is the upper bound of the next delay: min(max, min·2^attempt). */
  ceiling(): number {
    let d = this.minMs;
    for (let i = 0; i < this.attempt && d < this.maxMs; i++) d *= 2;
    return Math.min(d, this.maxMs);
  }

  /** next returns the delay before the next attempt and counts the attempt. */
  next(): number {
    const c = this.ceiling();
    if (c < this.maxMs) this.attempt++;
    // +1: the range is closed, so the ceiling itself can be drawn.
    return Math.min(c, Math.floor(this.random() * (c + 1)));
  }

  /** reset starts the growth over, after a connection stayed up long enough. */
  reset(): void {
    this.attempt = 0;
  }
}
