/**
 * Fuzz both listeners of a real server process over raw TCP on 127.0.0.1 (fast-check): request
 * lines, methods, targets, headers and bodies (complete, truncated, bare-LF), with and without the
 * admin token, and WebSocket frames after a real upgrade (any opcode, RSV bits, masking, claimed
 * lengths, random bytes and Phoenix-shaped JSON). Every case must be answered or closed within the
 * HTTP bound, and afterwards the process is alive, logged no handler error, answers /healthz and
 * admin /status, and two real peers join and exchange a signal. Bounded in runs and time.
 */
import crypto from 'node:crypto';
import net from 'node:net';
import fc from 'fast-check';
import { spawnServer, ServerProcess } from '../helpers/process';
import { openRaw, request, token, upgradeRequest } from '../helpers/server';

const SECRET = 'fuzz-test-secret-that-is-at-least-32-characters';
const ADMIN_TOKEN = 'fuzz-admin-token-0123456789abcdefghijkl';
/** Longest a case may stay open: the HTTP header/request bound (6 s) plus slack. */
const CASE_BOUND_MS = 8_000;
const RUN_LIMIT_MS = 45_000;

let srv: ServerProcess;
/** A valid peer token, added to some generated targets so that upgrades can succeed too. */
let peerToken = '';
const answers = new Map<string, number>();
const tally = (k: string) => answers.set(k, (answers.get(k) ?? 0) + 1);

/** Write, half-close, and resolve with the first line the server sent before it closed. */
function exchange(port: number, bytes: Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let got = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`case still open after ${CASE_BOUND_MS} ms: ${JSON.stringify(bytes.toString('latin1').slice(0, 300))}`));
    }, CASE_BOUND_MS);
    socket.on('data', (d) => {
      got += d.toString('latin1');
    });
    socket.on('error', () => undefined); // a reset is an answer
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(got.split('\r\n')[0]);
    });
    socket.end(bytes);
  });
}

// ---- HTTP requests -------------------------------------------------------------------------------

const ROUTES = ['/healthz', '/readyz', '/socket/websocket', '/drain', '/status', '/metrics', '/presence', '/presence/stream', '/', '/x'];
const targetArb = fc.oneof(
  {
    weight: 6,
    arbitrary: fc
      .tuple(
        fc.constantFrom(...ROUTES),
        fc.array(
          fc.tuple(
            fc.constantFrom('vsn', 'token', 'wait', 'x', '%', ''),
            fc.oneof(
              { weight: 3, arbitrary: fc.constantFrom('2.0.0', '1', 'bad', '%zz', '') },
              { weight: 1, arbitrary: fc.string({ maxLength: 20 }) },
            ),
          ),
          { maxLength: 3 },
        ),
      )
      .map(([p, q]) => (q.length ? `${p}?${q.map(([k, v]) => `${k}=${v}`).join('&')}` : p)),
  },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      '//x:99999/status',
      'http://[/',
      '//@:0/',
      '*',
      'http://a:1/status',
      '/./drain',
      '/a/../status',
      '//socket/websocket',
      '/socket/websocket/',
      '/%00',
      '/\u00ff',
    ),
  },
  { weight: 1, arbitrary: fc.string({ unit: 'binary-ascii', maxLength: 40 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme', maxLength: 20 }).map((s) => `/${s}`) },
);
const headerArb = fc.oneof(
  {
    weight: 8,
    arbitrary: fc.tuple(
      fc.constantFrom(
        'Host',
        'Content-Length',
        'Transfer-Encoding',
        'Upgrade',
        'Connection',
        'Sec-WebSocket-Key',
        'Sec-WebSocket-Version',
        'Authorization',
        'Expect',
        'Cookie',
        'X-Forwarded-For',
      ),
      fc.oneof(
        {
          weight: 6,
          arbitrary: fc.constantFrom(
            'websocket',
            'Upgrade',
            'keep-alive',
            'close',
            'chunked',
            '13',
            '8',
            '0',
            '-1',
            '5',
            '99999999999999999999',
            '100-continue',
            'dGhlIHNhbXBsZSBub25jZQ==',
            'Bearer x',
            `Bearer ${ADMIN_TOKEN}`,
            'Bearer',
            '127.0.0.1',
          ),
        },
        { weight: 3, arbitrary: fc.string({ unit: 'grapheme-ascii', maxLength: 30 }) },
        { weight: 1, arbitrary: fc.string({ unit: 'binary-ascii', maxLength: 30 }) },
      ),
    ),
  },
  {
    weight: 1,
    arbitrary: fc.tuple(
      fc.string({ unit: 'binary-ascii', minLength: 1, maxLength: 15 }),
      fc.string({ unit: 'binary-ascii', maxLength: 30 }),
    ),
  },
);
const wildArb = fc.record({
  admin: fc.boolean(),
  method: fc.oneof(
    { weight: 8, arbitrary: fc.constantFrom('GET', 'GET', 'POST', 'PUT', 'DELETE', 'HEAD', 'OPTIONS', 'PATCH', 'CONNECT', 'TRACE') },
    { weight: 1, arbitrary: fc.string({ unit: 'binary-ascii', minLength: 1, maxLength: 8 }) },
  ),
  target: targetArb,
  version: fc.constantFrom('HTTP/1.1', 'HTTP/1.1', 'HTTP/1.1', 'HTTP/1.1', 'HTTP/1.0', 'HTTP/2.0', 'HTTP/9.9', 'HTTP/1.1 extra', ''),
  headers: fc.array(headerArb, { maxLength: 6 }),
  auth: fc.constantFrom('none', 'right', 'wrong'),
  host: fc.constantFrom(true, true, true, false),
  peerToken: fc.boolean(),
  upgrade: fc.boolean(),
  body: fc.oneof({ weight: 3, arbitrary: fc.constant(new Uint8Array(0)) }, { weight: 1, arbitrary: fc.uint8Array({ maxLength: 2048 }) }),
  eol: fc.constantFrom('\r\n', '\r\n', '\r\n', '\n'),
  cut: fc.oneof({ weight: 4, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: fc.nat() }),
});

/** Well-formed requests to real routes (valid method, HTTP/1.1, Host, sane headers): they reach the handlers. */
const tameArb = fc.record({
  admin: fc.boolean(),
  method: fc.constantFrom('GET', 'GET', 'GET', 'POST', 'PUT', 'DELETE', 'HEAD', 'OPTIONS'),
  target: fc
    .tuple(
      fc.constantFrom(...ROUTES),
      fc.array(fc.tuple(fc.constantFrom('vsn', 'wait', 'x'), fc.constantFrom('2.0.0', '1', '0', 'bad', '%zz', '')), { maxLength: 2 }),
    )
    .map(([p, q]) => (q.length ? `${p}?${q.map(([k, v]) => `${k}=${v}`).join('&')}` : p)),
  version: fc.constant('HTTP/1.1'),
  headers: fc.array(
    fc.tuple(
      fc.constantFrom('Accept', 'Cookie', 'X-Forwarded-For', 'Connection', 'User-Agent'),
      fc.constantFrom('*/*', 'a=b', '10.0.0.1', 'close', 'keep-alive', 'fuzz'),
    ),
    { maxLength: 3 },
  ),
  auth: fc.constantFrom('none', 'right', 'right', 'wrong'),
  host: fc.constant(true),
  peerToken: fc.boolean(),
  upgrade: fc.boolean(),
  body: fc.constant(new Uint8Array(0)),
  eol: fc.constant('\r\n'),
  cut: fc.constant(null),
});
const requestArb = fc.oneof(wildArb, tameArb);

type GeneratedRequest = typeof requestArb extends fc.Arbitrary<infer T> ? T : never;

function render(r: GeneratedRequest): Buffer {
  const headers: Array<[string, string]> = r.host ? [['Host', '127.0.0.1'], ...r.headers] : [...r.headers];
  const target = r.peerToken ? `${r.target}${r.target.includes('?') ? '&' : '?'}token=${peerToken}` : r.target;
  // The right admin token, except on a drain: the process under test must keep serving.
  let drain = true;
  try {
    drain = new URL(target, 'http://x').pathname === '/drain';
  } catch {
    /* not a URL: answered 400 */
  }
  if (r.auth === 'right' && !drain) headers.push(['Authorization', `Bearer ${ADMIN_TOKEN}`]);
  else if (r.auth !== 'none') headers.push(['Authorization', 'Bearer wrong-admin-token']);
  for (let i = headers.length - 1; i >= 0; i--)
    if (drain && /authorization/i.test(headers[i][0]) && headers[i][1].includes(ADMIN_TOKEN)) headers.splice(i, 1);
  if (r.upgrade)
    headers.push(
      ['Upgrade', 'websocket'],
      ['Connection', 'Upgrade'],
      ['Sec-WebSocket-Key', crypto.randomBytes(16).toString('base64')],
      ['Sec-WebSocket-Version', '13'],
    );
  const head = `${r.method} ${target} ${r.version}${r.eol}${headers.map(([k, v]) => `${k}: ${v}${r.eol}`).join('')}${r.eol}`;
  const bytes = Buffer.concat([Buffer.from(head, 'latin1'), Buffer.from(r.body)]);
  return r.cut === null ? bytes : bytes.subarray(0, r.cut % (bytes.length + 1));
}

// ---- WebSocket frames ----------------------------------------------------------------------------

/** Upgrade with a valid token and resolve with the socket once the 101 has been read. */
function upgraded(port: number, sub: string): Promise<net.Socket> {
  return token(sub, 'client', SECRET).then(
    (t) =>
      new Promise((resolve, reject) => {
        const socket = net.connect(port, '127.0.0.1');
        let head = Buffer.alloc(0);
        const onData = (d: Buffer) => {
          head = Buffer.concat([head, d]);
          const end = head.indexOf('\r\n\r\n');
          if (end < 0) return;
          socket.off('data', onData);
          if (!head.subarray(0, 12).toString().startsWith('HTTP/1.1 101'))
            return reject(new Error(`upgrade refused: ${head.subarray(0, end).toString()}`));
          resolve(socket);
        };
        socket.on('data', onData);
        socket.on('error', reject);
        socket.write(upgradeRequest(`/socket/websocket?vsn=2.0.0&token=${t}`, 'x'));
      }),
  );
}

const phoenixArb = (sub: string) =>
  fc
    .tuple(
      fc.oneof(fc.constant(null), fc.string({ maxLength: 5 }), fc.integer()),
      fc.oneof(fc.constant(null), fc.string({ maxLength: 5 }), fc.jsonValue({ maxDepth: 2 })),
      fc.oneof(fc.constantFrom('phoenix', `peer:${sub}`, 'peer:other', ''), fc.string({ maxLength: 300 })),
      fc.oneof(fc.constantFrom('heartbeat', 'phx_join', 'phx_leave', 'signal', 'phx_reply', ''), fc.string({ maxLength: 70 })),
      fc.oneof(
        fc.record(
          {
            to: fc.oneof(fc.constantFrom('other', sub, ''), fc.string({ maxLength: 140 })),
            id: fc.oneof(fc.string({ maxLength: 140 }), fc.integer()),
            data: fc.jsonValue({ maxDepth: 4 }),
          },
          { requiredKeys: [] },
        ),
        fc.record({ last_seq: fc.oneof(fc.integer(), fc.double(), fc.constant(null), fc.string()) }, { requiredKeys: [] }),
        fc.jsonValue({ maxDepth: 3 }),
      ),
    )
    .map((f) => Buffer.from(JSON.stringify(f)));

const frameArb = (sub: string) =>
  fc.record({
    fin: fc.boolean(),
    rsv: fc.constantFrom(0, 0, 0, 1, 2, 4),
    opcode: fc.oneof(fc.constantFrom(0x1, 0x1, 0x1, 0x2, 0x8, 0x9, 0xa, 0x0), fc.integer({ min: 0, max: 15 })),
    masked: fc.constantFrom(true, true, true, false),
    payload: fc.oneof(
      phoenixArb(sub),
      fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a)),
      fc.string({ maxLength: 100 }).map((s) => Buffer.from(s)),
    ),
    lie: fc.option(fc.constantFrom(126, 127, 65_535, 2 ** 32, 2 ** 40), { freq: 5 }),
  });

function encodeFrame(f: { fin: boolean; rsv: number; opcode: number; masked: boolean; payload: Buffer; lie: number | null }): Buffer {
  const len = f.lie ?? f.payload.length;
  const b0 = (f.fin ? 0x80 : 0) | (f.rsv << 4) | f.opcode;
  let head: Buffer;
  if (len < 126) head = Buffer.from([b0, (f.masked ? 0x80 : 0) | len]);
  else if (len <= 0xffff) {
    head = Buffer.alloc(4);
    head[0] = b0;
    head[1] = (f.masked ? 0x80 : 0) | 126;
    head.writeUInt16BE(len, 2);
  } else {
    head = Buffer.alloc(10);
    head[0] = b0;
    head[1] = (f.masked ? 0x80 : 0) | 127;
    head.writeBigUInt64BE(BigInt(len), 2);
  }
  if (!f.masked) return Buffer.concat([head, f.payload]);
  const mask = crypto.randomBytes(4);
  const body = Buffer.from(f.payload.map((byte, i) => byte ^ mask[i % 4]));
  return Buffer.concat([head, mask, body]);
}

function closeOf(socket: net.Socket, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    if (socket.destroyed) return resolve();
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`WebSocket case still open after ${CASE_BOUND_MS} ms: ${what}`));
    }, CASE_BOUND_MS);
    socket.on('error', () => undefined);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

// ---- the run ------------------------------------------------------------------------------------

describe('fuzzing both listeners of a server process', () => {
  beforeAll(async () => {
    srv = await spawnServer({ SLUICE_TOKEN_SECRET: SECRET, SLUICE_ADMIN_TOKEN: ADMIN_TOKEN });
    peerToken = await token('fuzz-http', 'client', SECRET);
  }, 30_000);
  afterAll(async () => {
    srv.proc.kill('SIGKILL');
    await srv.exited;
  });

  it(
    'answers or closes every generated HTTP request',
    async () => {
      let runs = 0;
      await fc.assert(
        fc.asyncProperty(requestArb, async (r) => {
          runs++;
          const first = await exchange(r.admin ? srv.adminPort : srv.port, render(r));
          tally(`${r.admin ? 'admin' : 'public'} ${/^HTTP\/1\.[01] (\d{3})/.exec(first)?.[1] ?? 'closed'}`);
          expect(srv.proc.exitCode).toBeNull();
        }),
        { numRuns: 1500, interruptAfterTimeLimit: RUN_LIMIT_MS, markInterruptAsFailure: false },
      );
      expect(runs).toBeGreaterThan(50);
    },
    RUN_LIMIT_MS + 30_000,
  );

  it(
    'survives every generated sequence of WebSocket frames',
    async () => {
      let runs = 0;
      await fc.assert(
        fc.asyncProperty(
          fc.constantFrom('f').chain((p) => {
            const sub = `${p}${crypto.randomBytes(6).toString('hex')}`;
            return fc.tuple(
              fc.constant(sub),
              fc.array(frameArb(sub), { minLength: 1, maxLength: 12 }),
              fc.option(fc.uint8Array({ minLength: 1, maxLength: 64 }), { freq: 4 }),
            );
          }),
          async ([sub, frames, junk]) => {
            runs++;
            const socket = await upgraded(srv.port, sub);
            const done = closeOf(socket, JSON.stringify(frames.map((f) => [f.opcode, f.payload.length, f.lie])));
            socket.write(Buffer.concat([...frames.map(encodeFrame), junk ? Buffer.from(junk) : Buffer.alloc(0)]));
            socket.end();
            await done;
            tally('ws closed');
            expect(srv.proc.exitCode).toBeNull();
          },
        ),
        { numRuns: 600, interruptAfterTimeLimit: RUN_LIMIT_MS, markInterruptAsFailure: false },
      );
      expect(runs).toBeGreaterThan(30);
    },
    RUN_LIMIT_MS + 30_000,
  );

  it('keeps serving: alive, no handler error logged, /healthz, admin /status, two real peers signal', async () => {
    console.log(`fuzz answers: ${JSON.stringify(Object.fromEntries([...answers].sort()))}`);
    expect(srv.proc.exitCode).toBeNull();
    expect(srv.proc.signalCode).toBeNull();
    expect(srv.logs.filter((l) => (l.level as number) >= 50)).toEqual([]);
    expect((await fetch(`http://127.0.0.1:${srv.port}/healthz`)).status).toBe(200);
    expect((await fetch(`http://127.0.0.1:${srv.port}/readyz`)).status).toBe(200);
    const status = await fetch(`http://127.0.0.1:${srv.adminPort}/status`, { headers: { Authorization: `Bearer ${ADMIN_TOKEN}` } });
    expect(status.status).toBe(200);
    expect(await status.json()).toMatchObject({ state: 'serving' });
    const url = async (sub: string, kind: 'client' | 'gateway') =>
      `ws://127.0.0.1:${srv.port}/socket/websocket?vsn=2.0.0&token=${await token(sub, kind, SECRET)}`;
    // A client and a gateway: the default policy signals across kinds only (app/auth/policy.ts).
    const a = await openRaw(await url('real-a', 'client'));
    const b = await openRaw(await url('real-b', 'gateway'));
    expect((await request(a, ['1', '1', 'peer:real-a', 'phx_join', {}]))[4].status).toBe('ok');
    expect((await request(b, ['1', '1', 'peer:real-b', 'phx_join', {}]))[4].status).toBe('ok');
    const got = new Promise<unknown>((resolve) =>
      b.on('message', (d) => {
        const m = JSON.parse(d.toString()) as unknown[];
        if (m[3] === 'signal') resolve(m[4]);
      }),
    );
    expect((await request(a, ['1', '2', 'peer:real-a', 'signal', { to: 'real-b', id: 'after-fuzz', data: { ok: true } }]))[4]).toEqual({
      status: 'ok',
      response: { status: 'delivered' },
    });
    expect(await got).toMatchObject({ from: 'real-a', id: 'after-fuzz', seq: 1, data: { ok: true } });
    a.terminate();
    b.terminate();
  });
});
