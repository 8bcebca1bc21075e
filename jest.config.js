/**
 * Jest runs TypeScript through swc: no type-checking here (that is `npm run typecheck`), just speed.
 *
 * Two projects: `unit` (in-process, loopback sockets at most: the quick loop,
 * `npm test -- --selectProjects unit`) and `e2e` (real processes: redis-server, HAProxy,
 * Chromium, spawned servers, fleets of hundreds of peers, plan renders). `npm test` runs both.
 * Per-project timeouts: a unit test that hangs fails after 30 s; e2e tests get 90 s by default and
 * set their own limit where a scenario needs longer.
 */
const E2E = [
  '<rootDir>/test/backplane/',
  '<rootDir>/test/local/',
  '<rootDir>/test/docs/commands.test.ts',
  '<rootDir>/test/server/amplification.test.ts',
  '<rootDir>/test/server/fuzz.test.ts',
  '<rootDir>/test/server/fd-exhaustion.test.ts',
  '<rootDir>/test/client/drain.test.ts',
  '<rootDir>/test/client/blackhole.test.ts',
  '<rootDir>/test/client/package.test.ts',
  '<rootDir>/test/client/browser.test.ts',
  '<rootDir>/test/peer/',
  '<rootDir>/test/infra/plan.test.ts',
  '<rootDir>/test/infra/gke-plan.test.ts',
  '<rootDir>/test/lifecycle/server-drain.test.ts',
  '<rootDir>/test/rollout/local-region.test.ts',
  '<rootDir>/test/rollout/status-rollout.test.ts',
  '<rootDir>/test/rollout/presence-gate.test.ts',
  '<rootDir>/test/container/',
];

const base = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  transform: { '^.+\\.(t|j)sx?$': ['@swc/jest', { jsc: { target: 'es2022' } }] },
};

module.exports = {
  projects: [
    { ...base, displayName: 'unit', setupFilesAfterEnv: ['<rootDir>/test/setup/unit.ts'], testMatch: ['**/*.test.ts'], testPathIgnorePatterns: ['/node_modules/', ...E2E] },
    {
      ...base,
      displayName: 'e2e',
      setupFilesAfterEnv: ['<rootDir>/test/setup/e2e.ts'],
      testMatch: E2E.map((p) => (p.endsWith('/') ? `${p}**/*.test.ts` : p)),
    },
  ],
};
