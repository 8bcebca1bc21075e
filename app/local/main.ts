/**
 * `npm start`: the local job with embedded defaults and no cloud. Today it runs one server (the
 * same entry point as `npm run server`, development settings) and prints ready-made tokens and the
 * commands to connect to it; SIGINT/SIGTERM drain it like a production server.
 */
import { signToken } from '../auth/token';
import { DEV_TOKEN_SECRET } from '../server/config';
import { main } from '../server/main';

async function start(): Promise<void> {
  process.env.SLUICE_ENV ??= 'development';
  process.env.SLUICE_LOG_LEVEL ??= 'info';
  const server = await main();
  const secret = server.config.tokenSecret;
  const { port, adminPort } = server.ports();
  const client = await signToken(secret, { sub: 'demo-client', kind: 'client' });
  const gateway = await signToken(secret, { sub: 'demo-gateway', kind: 'gateway' });
  const base = `ws://127.0.0.1:${port}/socket/websocket?vsn=2.0.0&token=`;
  process.stderr.write([
    '',
    `sluice is running (development${secret === DEV_TOKEN_SECRET ? ', built-in development token secret' : ''}).`,
    `  demo-client  : ${base}${client}`,
    `  demo-gateway : ${base}${gateway}`,
    '  join   : ["1","1","peer:demo-client","phx_join",{}]',
    '  signal : ["1","2","peer:demo-client","signal",{"to":"demo-gateway","id":"hello-1","data":{"sdp":"..."}}]',
    `  drain  : curl -X POST http://${server.config.adminHost}:${adminPort}/drain   (or Ctrl-C)`,
    '',
  ].join('\n'));
}

start().catch((err: Error) => {
  process.stderr.write(`${err.message}\n`);
  process.exit(2);
});
