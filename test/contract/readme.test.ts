import fs from 'node:fs';
import path from 'node:path';
import { withRulesTable } from './rules-table';
import { defaultTimeouts } from '../../app/contract/timeouts';

const doc = (file: string) => fs.readFileSync(path.resolve(__dirname, '../..', file), 'utf8');
const readme = doc('README.md');
const timeouts = doc('docs/timeouts.md');

describe('README and docs/', () => {
  it('docs/timeouts.md lists the contract rules exactly as the code has them (regenerate: npx tsx test/contract/rules-table.ts)', () => {
    expect(withRulesTable(timeouts)).toBe(timeouts);
  });

  it('docs/timeouts.md states the default numbers the contract really has', () => {
    const row = (name: string) => timeouts.split('\n').find((l) => l.startsWith(`| \`${name}\``)) ?? '';
    expect(row('client.heartbeatIntervalMs')).toContain(`${defaultTimeouts.client.heartbeatIntervalMs / 1000} s`);
    expect(row('client.heartbeatTimeoutMs')).toContain(`${defaultTimeouts.client.heartbeatTimeoutMs / 1000} s`);
    expect(row('server.idleTimeoutMs')).toContain(`${defaultTimeouts.server.idleTimeoutMs / 1000} s`);
    expect(row('lb.idleTimeoutSec')).toContain(`${defaultTimeouts.lb.idleTimeoutSec} s`);
    expect(row('lb.connectionDrainingSec')).toContain(`${defaultTimeouts.lb.connectionDrainingSec} s`);
    expect(row('drain.windowMs')).toContain(`${defaultTimeouts.drain.windowMs / 1000} s`);
    expect(row('drain.deadlineMs')).toContain(`${defaultTimeouts.drain.deadlineMs / 1000} s`);
    expect(row('gce.dockerStopTimeoutSec')).toContain(`${defaultTimeouts.gce.dockerStopTimeoutSec} s`);
  });

  it('docs/architecture.md names every folder in the Layout section, one line each, and no folder that does not exist', () => {
    const root = path.resolve(__dirname, '../..');
    const walk = (dir: string): string[] =>
      fs
        .readdirSync(path.join(root, dir), { withFileTypes: true })
        .filter((d) => d.isDirectory() && !['__snapshots__', 'dist', 'node_modules'].includes(d.name))
        .flatMap((d) => [`${dir}/${d.name}`, ...walk(`${dir}/${d.name}`)]);
    const folders = ['app', 'infra', 'bench', 'test', '.github'].flatMap((top) => (top === '.github' ? walk(top) : [top, ...walk(top)]));
    const block = /^## Layout\n\n```text\n([\s\S]*?)```/m.exec(doc('docs/architecture.md'));
    expect(block).not.toBeNull();
    const listed = block![1]
      .split('\n')
      .map((l) => /^(\S+)\/\s/.exec(l)?.[1])
      .filter((d): d is string => d !== undefined);
    expect([...listed].sort()).toEqual([...new Set(listed)].sort());
    expect(new Set(listed)).toEqual(new Set(folders));
  });

  it('the README holds the two commands that work on a fresh machine, and stays a front door', () => {
    expect(readme).toContain('npm install && npm start');
    expect(readme).toContain('npm test');
    expect(readme.split('\n').length).toBeLessThan(250);
  });
});
