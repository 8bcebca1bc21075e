/** Talking to the status page (app/local/status/server.ts) from a test: JSON in and out, its SSE states. */
import http from 'node:http';
import type { Region } from '../../app/local/region/region';
import { startStatusServer, type RegionState } from '../../app/local/status/server';
import { startQuickRegion } from './region';

export interface Answer {
  status: number;
  body: Record<string, unknown>;
}

export function request(
  url: string,
  method: 'GET' | 'POST',
  body?: string,
  headers: Record<string, string> = method === 'POST' ? { 'Content-Type': 'application/json' } : {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers }, (res) => {
      let b = '';
      res.on('data', (d: Buffer) => {
        b += d.toString();
      });
      res.on('end', () => {
        try {
          resolve({ status: res.statusCode ?? 0, body: JSON.parse(b) as Record<string, unknown> });
        } catch (e) {
          reject(e);
        }
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

export const post = (url: string, body: string, type = 'application/json'): Promise<Answer> =>
  request(url, 'POST', body, { 'Content-Type': type });

export function getJson<T>(url: string): Promise<T> {
  return request(url, 'GET').then((a) => a.body as T);
}

/** The first state pushed over /api/events that satisfies `done`. */
export function stateWhen(url: string, done: (s: RegionState) => boolean): Promise<RegionState> {
  return new Promise((resolve, reject) => {
    const req = http.get(`${url}api/events`, (res) => {
      let buf = '';
      res.on('data', (d: Buffer) => {
        buf += d.toString();
        let i: number;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const event = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const data = /^data: (.*)$/m.exec(event)?.[1];
          if (!data) continue;
          const s = JSON.parse(data) as RegionState;
          if (done(s)) {
            req.destroy();
            resolve(s);
            return;
          }
        }
      });
    });
    req.on('error', (err) => {
      if (!req.destroyed) reject(err);
    });
  });
}

export interface RegionWithPage {
  region: Region;
  status: Awaited<ReturnType<typeof startStatusServer>>;
}

/**
 * For a describe block: a quick in-process region (3 servers, memory backplane, built-in balancer,
 * a fleet of `peers`) and its status page, started before the block's tests and stopped after.
 * Read the fields inside the tests (they are set by the beforeAll this registers).
 */
export function regionWithStatusPage(peers: number): RegionWithPage {
  const h = {} as RegionWithPage;
  beforeAll(async () => {
    h.region = await startQuickRegion({ peers, lb: 'builtin', backplane: 'memory' });
    h.status = await startStatusServer(h.region, 0);
  });
  afterAll(async () => {
    await h.status?.close();
    await h.region?.stop();
  });
  return h;
}
