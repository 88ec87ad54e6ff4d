import { HeraldClient, type ClientOptions, type ErrorEvent, type Push, type StateChange, type StreamResult } from "../../src/index.js";
import type { Cleanup } from "./cleanup.js";

/** Recorder keeps everything one client reported. */
export class Recorder {
  readonly pushes: Push[] = [];
  readonly states: StateChange[] = [];
  readonly failed: StreamResult[] = [];
  readonly errors: ErrorEvent[] = [];

  constructor(readonly client: HeraldClient) {
    client.on("push", (p) => this.pushes.push(p));
    client.on("state", (s) => this.states.push(s));
    client.on("resumeFailed", (r) => this.failed.push(r));
    client.on("error", (e) => this.errors.push(e));
  }

  /** payloads are the pushes' payloads as text, in delivery order. */
  payloads(stream?: string): string[] {
    return this.pushes.filter((p) => stream === undefined || p.stream === stream).map((p) => Buffer.from(p.payload).toString());
  }

  /** count is how many state changes of this kind happened. */
  count(state: StateChange["state"]): number {
    return this.states.filter((s) => s.state === state).length;
  }

  /** last is the latest state change of this kind. */
  last(state: StateChange["state"]): StateChange | undefined {
    return this.states.filter((s) => s.state === state).at(-1);
  }
}

/** startClient makes, starts and records a client, closed at cleanup. */
export function startClient(t: Cleanup, opts: ClientOptions): Recorder {
  const rec = new Recorder(new HeraldClient(opts));
  rec.client.start();
  t.after(() => rec.client.close());
  return rec;
}
