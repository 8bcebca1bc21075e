/** Small HTTP helpers shared by the public and the admin listener (no server state here). */
import type http from 'node:http';

/** The request target as a URL, or null when it is not one (`//x:99999/`, `http://[`): answer 400. */
export function parseTarget(target: string | undefined): URL | null {
  try {
    return new URL(target ?? '/', 'http://sluice');
  } catch {
    return null;
  }
}

/** A JSON answer with an exact Content-Length. */
export function json(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text), ...headers });
  res.end(text);
}
