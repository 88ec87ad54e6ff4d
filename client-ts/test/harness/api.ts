import { createClient, type Client, type Interceptor } from "@connectrpc/connect";
import { createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";
import { PushService } from "../gen/herald/push/v1/push_pb.js";
import type { Cleanup } from "./cleanup.js";

/** API is a gRPC client of herald.push.v1.PushService. */
export type API = Client<typeof PushService>;

/**
 * pushAPI dials a node's gRPC API over real HTTP/2 with the API key, as a
 * backend does, and closes the connection at cleanup.
 */
export function pushAPI(t: Cleanup, grpcAddr: string, apiKey: string): API {
  const baseUrl = `http://${grpcAddr}`;
  const sessionManager = new Http2SessionManager(baseUrl);
  t.after(() => sessionManager.abort());
  const auth: Interceptor = (next) => (req) => {
    req.header.set("authorization", `Bearer ${apiKey}`);
    return next(req);
  };
  return createClient(PushService, createGrpcTransport({ baseUrl, sessionManager, interceptors: [auth] }));
}
