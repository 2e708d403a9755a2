// The controller's public surface: `hoist controller` and the tests start it through this.
export { startController, type ControllerOptions, type RunningController } from './manager.ts';
