/**
 * Issue 22 point 3: a stack needs no secret typed by hand. The token-signing secret and the admin token
 * are generated in the stack (StackSecrets: @pulumi/random RandomPassword), handed on as Pulumi
 * secrets to Secret Manager, and no stack file carries a secret at all, so `pulumi preview` of a new
 * stack (and the PR preview of every stack) needs nothing from outside. Rendered under setMocks.
 */
import fs from 'node:fs';
import path from 'node:path';
import { GENERATED_SECRET_LENGTH } from '../../infra/components/secrets';
import { isSecretValue } from '../../infra/offline-preview/format';
import { readStackFiles } from '../../infra/offline-preview/render';
import { ADMIN_TOKEN, render, Rendered, T, TOKEN_SECRET } from './harness';

const ROOT = path.resolve(__dirname, '../..');
const RANDOM_PASSWORD = 'random:index/randomPassword:RandomPassword';

let dev: Rendered;
beforeAll(async () => {
  dev = await render();
});

describe('StackSecrets', () => {
  it('generates the token secret and the admin token: 64 characters of [A-Za-z0-9], one component', () => {
    const made = dev.all(RANDOM_PASSWORD);
    expect(made.map((r) => r.name).sort()).toEqual(['sluice-admin-token', 'sluice-token-secret']);
    const component = dev.resources.find((r) => r.type === 'sluice:infra:StackSecrets')!;
    for (const r of made) {
      expect(r.parent).toBe(component.urn);
      expect(r.inputs).toMatchObject({ length: GENERATED_SECRET_LENGTH, special: false });
    }
    expect(TOKEN_SECRET).toMatch(/^[A-Za-z0-9]{64}$/);
    expect(ADMIN_TOKEN).not.toBe(TOKEN_SECRET);
  });

  it('writes them to Secret Manager as Pulumi secrets, and nowhere in clear', () => {
    const env = dev.one(T.secretVersion, 'sluice-server-env-us-central1');
    const admin = dev.one(T.secretVersion, 'sluice-admin-token');
    expect(isSecretValue(env.inputs.secretData)).toBe(true);
    expect(isSecretValue(admin.inputs.secretData)).toBe(true);
    expect(dev.plain(env).secretData).toContain(`SLUICE_TOKEN_SECRET=${TOKEN_SECRET}\n`);
    expect(dev.plain(admin).secretData).toBe(`SLUICE_ADMIN_TOKEN=${ADMIN_TOKEN}\n`);
  });
});

describe('the stack files', () => {
  it.each(['dev', 'prod', 'gke'])('Pulumi.%s.yaml holds no secret, plain or encrypted, and renders without one', (stack) => {
    const files = readStackFiles(ROOT, stack);
    expect(files.secretKeys).toEqual([]);
    expect(Object.keys(files.config).filter((k) => /secret|token|password/i.test(k))).toEqual([]);
    expect(fs.readFileSync(path.join(ROOT, `Pulumi.${stack}.yaml`), 'utf8')).not.toMatch(/^\s*secure:/m);
  });
});
