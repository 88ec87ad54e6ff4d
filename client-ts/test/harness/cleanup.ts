/** Cleanup is where a helper registers its teardown: node:test's TestContext (t.after) or a suite's. */
export interface Cleanup {
  after(fn: () => unknown): void;
}
