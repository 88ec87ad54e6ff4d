/**
 * The TypeScript client SDK for Herald, for browsers, React Native and
 * Node 20+: the same semantics as the Go SDK (client/ in the repository).
 * See HeraldClient.
 */
export { HeraldClient, type Events } from "./client.js";
export { HeraldError, type HeraldErrorCode, type ErrorEvent } from "./errors.js";
export { defaults, type ClientOptions, type StreamPositionInit, type WebSocketConstructor, type WebSocketLike } from "./options.js";
export type { State, StateChange } from "./state.js";
export type {
  Disconnect,
  Push,
  StreamPosition,
  StreamResult,
  Welcome,
} from "./gen/herald/client/v1/client_pb.js";
