/**
 * What went wrong, as a stable name to switch on. Errors the client
 * reports (in a StateChange, or thrown by a method) are HeraldErrors.
 */
export type HeraldErrorCode =
  /** close() was called, or the server ended the client for good; methods throw it afterwards. */
  | "closed"
  /** start() was called twice. */
  | "started"
  /** The server closed the connection and said not to reconnect (DisconnectUser with reconnect: false, code 4002). */
  | "disconnected"
  /** ack() or refreshToken() while no connection is up. */
  | "not_connected"
  /** Nothing arrived from the server, not even a Pong to the client's Ping, for about three heartbeat intervals. */
  | "silent_server"
  /** The WebSocket did not open, or the server's Welcome did not come, within handshakeTimeoutMs. */
  | "handshake_timeout"
  /** The connection closed without a close code (1006): network loss, or a handshake refused (browsers hide the HTTP status). */
  | "connection_lost"
  /** The server closed the connection; StateChange.code and reason say why. */
  | "closed_by_server"
  /** The token provider threw or rejected. */
  | "token_provider"
  /** The token provider returned an empty token. */
  | "empty_token"
  /** The server sent a text message or bytes that are not a ServerFrame. */
  | "bad_frame"
  /** The WebSocket constructor threw. */
  | "websocket";

/** HeraldError is every error the client produces. */
export class HeraldError extends Error {
  /** code names the error; see HeraldErrorCode. */
  readonly code: HeraldErrorCode;
  constructor(code: HeraldErrorCode, message: string, cause?: unknown) {
    super(`herald: ${message}`);
    this.name = "HeraldError";
    this.code = code;
    // Set by hand: not every runtime reads the options argument of Error.
    if (cause !== undefined) this.cause = cause;
  }
}

/**
 * ErrorEvent is what the "error" event carries: a problem that did not end
 * the connection. source "server" is an Error frame (for example code
 * "invalid_token" after a rejected RefreshToken); source "client" is a
 * problem on this side: "refresh_failed" (the token provider failed when a
 * refresh was due) or "listener_failed" (an event listener threw).
 */
export interface ErrorEvent {
  source: "server" | "client";
  code: string;
  message: string;
  cause?: unknown;
}
