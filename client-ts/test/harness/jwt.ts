import { createHmac } from "node:crypto";

/** mint makes an HS256 client token, as `herald token` does. */
export function mint(secret: string, sub: string, opts: { ttlMs?: number; groups?: string[] } = {}): string {
  const enc = (v: unknown) => Buffer.from(JSON.stringify(v)).toString("base64url");
  const now = Date.now();
  const claims: Record<string, unknown> = { sub, iat: Math.floor(now / 1000), exp: Math.floor((now + (opts.ttlMs ?? 3_600_000)) / 1000) };
  if (opts.groups) claims.groups = opts.groups;
  const body = `${enc({ alg: "HS256", typ: "JWT" })}.${enc(claims)}`;
  return `${body}.${createHmac("sha256", secret).update(body).digest("base64url")}`;
}
