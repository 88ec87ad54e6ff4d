import type { Welcome } from "./gen/herald/client/v1/client_pb.js";
import type { HeraldError } from "./errors.js";

/**
 * State is where a client is in its life cycle:
 *
 *     idle ─► connecting ─► connected ─► reconnecting ─► connected ─► …
 *                  │            │              │
 *                  └────────────┴──────────────┴──► closed (terminal)
 *
 * - idle: not started.
 * - connecting: started, first connection attempt under way.
 * - connected: the server's Welcome arrived.
 * - reconnecting: a connection or attempt ended; the client waits delayMs,
 *   then dials again. Reported once per failure.
 * - closed: close() was called, or the server said not to reconnect.
 */
export type State = "idle" | "connecting" | "connected" | "reconnecting" | "closed";

/** StateChange is what the "state" event carries. */
export interface StateChange {
  /** state is the new state. */
  state: State;
  /**
   * code is the WebSocket close code of the connection that ended, from the
   * server's close frame or, failing that, its Disconnect frame; 1006 when
   * the connection dropped without one; 1000 when close() ended it;
   * undefined when no connection was made.
   */
  code?: number;
  /** reason is the server's reason for code. */
  reason?: string;
  /** error is why the previous state ended; undefined for connecting and connected. */
  error?: HeraldError;
  /**
   * delayMs is, for reconnecting, how long the client waits before its next
   * attempt: the server's reconnect_after when given, else the backoff's.
   */
  delayMs?: number;
  /** attempt is, for reconnecting, the failures in a row since the last stable connection (1 for the first). */
  attempt?: number;
  /** welcome is, for connected, the server's Welcome frame. */
  welcome?: Welcome;
}
