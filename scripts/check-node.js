// Runs first in every npm script: says clearly when the pinned Node 24 is not the one running.
// npm puts node_modules/.bin first on PATH, so after `npm ci` the `node` devDependency wins.
const major = Number(process.versions.node.split('.')[0]);
if (major < 24) {
  console.error(
    `hoist needs Node 24 or newer, but ${process.execPath} is ${process.version}.\n` +
      'Run it through npm (npm test, npm run demo) after `npm ci`: the pinned `node` devDependency ' +
      'puts Node 24 first on the PATH of npm scripts.',
  );
  process.exit(1);
}
