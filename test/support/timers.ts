// node:test's mock timers for controller unit tests: time moves when the test says so, so a
// test of a 10 s deadline takes microseconds and cannot flake on a busy machine.
import type { TestContext } from 'node:test';

/** Mocks setTimeout, setInterval and Date (so Date.now(), the controller's clock, moves with them). */
export function mockTime(t: TestContext, now = 1_000_000): void {
  t.mock.timers.enable({ apis: ['setTimeout', 'setInterval', 'Date'], now });
}

/** Lets every promise chain that can settle now settle (setImmediate is not mocked). */
export const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Moves mocked time forward by `ms`, in steps, letting the work each step wakes run. */
export async function advance(t: TestContext, ms: number, step = 10): Promise<void> {
  await settle();
  for (let left = ms; left > 0; left -= step) {
    t.mock.timers.tick(Math.min(step, left));
    await settle();
  }
}
