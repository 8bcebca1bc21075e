/** The quick project: a test that hangs fails after 30 s (jest.config.js). */
jest.setTimeout(30_000);
