import { setTimeout as sleep } from "node:timers/promises";

/**
 * until polls cond every 10 ms until it holds, and fails after timeoutMs.
 * The timeout only bounds a hang: tests never assert a duration.
 */
export async function until(cond: () => boolean | Promise<boolean>, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await cond()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs}ms waiting for: ${what}`);
    await sleep(10);
  }
}
