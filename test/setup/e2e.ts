/** The pulumi and e2e projects: 90 s per test unless the test sets its own limit (jest.config.js). */
jest.setTimeout(90_000);
