/** The status page's DNS rebinding guard (app/local/status/host.ts). */
import { hostAllowed } from '../../app/local/status/host';

test("only loopback names with the listener's port pass", () => {
  for (const h of ['127.0.0.1:8080', 'localhost:8080', 'LOCALHOST:8080', '[::1]:8080']) expect(hostAllowed(h, 8080)).toBe(true);
  for (const h of [
    undefined,
    '',
    'evil.example:8080',
    'evil.example',
    '127.0.0.1',
    '127.0.0.1:8081',
    'localhost.evil.example:8080',
    '127.0.0.2:8080',
  ])
    expect(hostAllowed(h, 8080)).toBe(false);
});
