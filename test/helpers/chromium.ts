/** Where the browser suites find Chromium: CHROMIUM_PATH, else `chromium` or `chromium-browser` on PATH. */
import { spawnSync } from 'node:child_process';

/** The Chromium executable, or undefined when there is none (the browser suites then skip). */
export function chromiumPath(): string | undefined {
  if (process.env.CHROMIUM_PATH) return process.env.CHROMIUM_PATH;
  for (const name of ['chromium', 'chromium-browser']) {
    const r = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' });
    if (r.status === 0 && r.stdout.trim()) return r.stdout.trim();
  }
  return undefined;
}
