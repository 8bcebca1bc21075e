/**
 * Jest runs TypeScript through swc: no type-checking here (that is `npm run typecheck`), just speed.
 *
 * Three projects (which file runs where: test/projects.js):
 *   quick   pure and in-process suites, no Pulumi, no child process: `npm run test:quick`
 *           (SLUICE_TEST_PROJECTS=quick, below)
 *   pulumi  the suites that load the Pulumi SDK: `npx jest --selectProjects=pulumi`
 *   e2e     real processes and real timers: `npx jest --selectProjects=e2e`
 * `npm test` runs all three. Per-project timeouts: a quick test that hangs fails after 30 s; pulumi
 * and e2e tests get 90 s by default and set their own limit where a scenario needs longer.
 */
const { PULUMI, E2E } = require('./test/projects');

const base = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  transform: { '^.+\\.(t|j)sx?$': ['@swc/jest', { jsc: { target: 'es2022' } }] },
};
const rooted = (list) => list.map((p) => `<rootDir>/${p}`);
const matching = (list) => rooted(list).map((p) => (p.endsWith('/') ? `${p}**/*.test.ts` : p));

const projects = [
  {
    ...base,
    displayName: 'quick',
    setupFilesAfterEnv: ['<rootDir>/test/setup/unit.ts'],
    testMatch: ['**/*.test.ts'],
    testPathIgnorePatterns: ['/node_modules/', ...rooted(PULUMI), ...rooted(E2E)],
  },
  {
    ...base,
    displayName: 'pulumi',
    setupFilesAfterEnv: ['<rootDir>/test/setup/e2e.ts'],
    testMatch: matching(PULUMI),
    testPathIgnorePatterns: ['/node_modules/', ...rooted(E2E)],
  },
  { ...base, displayName: 'e2e', setupFilesAfterEnv: ['<rootDir>/test/setup/e2e.ts'], testMatch: matching(E2E) },
];

/**
 * SLUICE_TEST_PROJECTS=quick (what `npm run test:quick` sets) keeps only the named projects. It is
 * not `--selectProjects quick` because that option takes a list: every word after it, a test path
 * too and even in the `--selectProjects=quick` form, is read as one more project name, so
 * `npm run test:quick -- test/server` would run every quick suite.
 */
const only = process.env.SLUICE_TEST_PROJECTS ? process.env.SLUICE_TEST_PROJECTS.split(',') : undefined;
const unknown = (only ?? []).filter((name) => !projects.some((p) => p.displayName === name));
if (unknown.length > 0) {
  throw new Error(
    `SLUICE_TEST_PROJECTS: no jest project ${unknown.join(', ')} (projects: ${projects.map((p) => p.displayName).join(', ')})`,
  );
}

/**
 * workerIdleMemoryLimit: on 2 cores jest's default is one worker, and with one worker and no memory
 * limit it runs every suite inside its own process, one after another (@jest/core shouldRunInBand),
 * so what 100+ suites leave behind (heap, handles) is still there when a timed suite runs late in
 * the run: test/backplane/drain-fleet.test.ts took 27 s at position 294 of a fresh-clone CI run
 * (reconnect gap p50 2.4 s) and 15 s alone (p50 60-80 ms). With a limit jest runs the suites in a
 * worker process and replaces it whenever it holds more than this after a suite.
 */
module.exports = {
  workerIdleMemoryLimit: '512MB',
  projects: only ? projects.filter((p) => only.includes(p.displayName)) : projects,
};
