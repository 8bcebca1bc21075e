/** `npm run token -- --sub gw-1 --kind gateway`: print a signed development token. */
import { Command, Option } from 'commander';
import { DEV_TOKEN_SECRET, PEER_KINDS, signToken } from '../auth/token';

const program = new Command('token')
  .description('Print an HS256 peer token signed with SLUICE_TOKEN_SECRET (development default when unset).')
  .requiredOption('--sub <id>', 'peer id (the token subject)')
  .addOption(new Option('--kind <kind>', 'peer kind').choices([...PEER_KINDS]).default('client'))
  .option('--ttl <seconds>', 'lifetime in seconds', (v) => Number.parseInt(v, 10), 24 * 3600)
  .action(async (opts: { sub: string; kind: 'client' | 'gateway'; ttl: number }) => {
    const secret = process.env.SLUICE_TOKEN_SECRET ?? DEV_TOKEN_SECRET;
    process.stdout.write(`${await signToken(secret, { sub: opts.sub, kind: opts.kind }, opts.ttl)}\n`);
  });

program.parseAsync().catch((err: Error) => {
  process.stderr.write(`token: ${err.message}\n`);
  process.exit(2);
});
