import { base64Decode, getTextEncoding } from "@bufbuild/protobuf/wire";

/**
 * jwtExpiry reads the exp claim of a JWT, in milliseconds since the epoch,
 * without checking the signature (the server does that); undefined when
 * the token is not a JWT with a numeric exp. The client uses it only to
 * schedule the next refresh.
 */
export function jwtExpiry(token: string): number | undefined {
  const part = token.split(".")[1];
  if (!part) return undefined;
  try {
    const claims: unknown = JSON.parse(getTextEncoding().decodeUtf8(base64Decode(part)));
    const exp = (claims as { exp?: unknown } | null)?.exp;
    return typeof exp === "number" && Number.isFinite(exp) ? exp * 1000 : undefined;
  } catch {
    return undefined;
  }
}
