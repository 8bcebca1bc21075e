/**
 * Render the Pulumi program under `pulumi.runtime.setMocks`: what `pulumi preview` would send to the
 * engine (every resource, its parent and its inputs, secrets still marked) and the stack outputs,
 * without a cloud, credentials or the Pulumi CLI. Used by `npm run plan`, `npm run plan:diff` and
 * the tests in test/infra.
 */
import path from 'node:path';
import * as pulumi from '@pulumi/pulumi';
import { PreviewMocks } from './mocks';
import { readYamlFile } from './yaml';

export interface RenderedResource {
  urn: string;
  type: string;
  name: string;
  /** URN of the parent resource (absent at the top level). */
  parent?: string;
  custom: boolean;
  /** Provider reference (`<provider urn>::<id>`) for custom resources. */
  provider?: string;
  /** Inputs as the engine receives them; secrets are `{[specialSigKey]: specialSecretSig, value}`. */
  inputs: Record<string, unknown>;
  /** URNs of the explicit `dependsOn` resources (deploy ordering; components expand to their children). */
  dependsOn: string[];
  /** customTimeouts (create/update), when set. */
  customTimeouts?: { create?: string; update?: string };
  /** ignoreChanges, when set (e.g. a MIG's targetSize under an autoscaler). */
  ignoreChanges?: string[];
}

export interface RenderedStack {
  project: string;
  stack: string;
  resources: RenderedResource[];
  outputs: Record<string, { value: unknown; secret: boolean }>;
}

export interface RenderOptions {
  project: string;
  stack: string;
  /** Full config keys (`sluice:regions`) to raw values (strings; structured values as JSON). */
  config: Record<string, string>;
  secretKeys: string[];
  /** GCP project id for mock ids (defaults to `<project>:project` from the config, else "mock-project"). */
  cloudProject?: string;
}

/** The SDK's RPC drain (exported at runtime, @internal in the typings): resolves when every registration is done. */
function waitForRPCs(): Promise<void> {
  const fn = (pulumi.runtime as unknown as { waitForRPCs?: () => Promise<void> }).waitForRPCs;
  if (!fn) throw new Error('@pulumi/pulumi no longer exports runtime.waitForRPCs; update infra/offline-preview/render.ts');
  return fn();
}

interface MonitorLike {
  registerResource(req: RegisterRequest, cb: (err: unknown, resp?: { getUrn(): string }) => void): unknown;
}
interface RegisterRequest {
  getType(): string;
  getName(): string;
  getParent(): string;
  getCustom(): boolean;
  getProvider(): string;
  getDependenciesList(): string[];
  getCustomtimeouts(): { getCreate(): string; getUpdate(): string } | undefined;
  getIgnorechangesList?(): string[];
}

/**
 * Run `program` (the module export of the Pulumi entry point: a function or an object of outputs)
 * with mocks and the given config; resolves with everything it registered.
 */
export async function renderProgram(program: () => unknown, opts: RenderOptions): Promise<RenderedStack> {
  const cloudProject = opts.cloudProject ?? readProjectId(opts.config, opts.project);
  const mocks = new PreviewMocks(cloudProject);
  const resources: RenderedResource[] = [];
  let current: RenderedResource | undefined;

  // The mock's newResource sees type, name and inputs; the monitor request carries the parent and the
  // provider. newResource is called synchronously inside registerResource, so one slot pairs them.
  const recording: pulumi.runtime.Mocks = {
    newResource: (args) => {
      if (current && current.type === args.type && current.name === args.name)
        current.inputs = (args.inputs ?? {}) as Record<string, unknown>;
      current = undefined;
      return mocks.newResource(args);
    },
    call: (args) => mocks.call(args),
  };
  await pulumi.runtime.setMocks(recording, opts.project, opts.stack, false);
  const monitor = pulumi.runtime.getMonitor() as unknown as MonitorLike;
  const register = monitor.registerResource.bind(monitor);
  monitor.registerResource = (req, cb) => {
    const entry: RenderedResource = {
      urn: '',
      type: req.getType(),
      name: req.getName(),
      parent: req.getParent() || undefined,
      custom: req.getCustom(),
      provider: req.getProvider() || undefined,
      inputs: {},
      dependsOn: [...(req.getDependenciesList?.() ?? [])].sort(),
      customTimeouts: timeoutsOf(req),
      ...(req.getIgnorechangesList?.().length ? { ignoreChanges: [...req.getIgnorechangesList!()] } : {}),
    };
    current = entry;
    return register(req, (err, resp) => {
      if (resp) {
        entry.urn = resp.getUrn();
        resources.push(entry);
      }
      cb(err, resp);
    });
  };
  pulumi.runtime.setAllConfig(opts.config, opts.secretKeys);

  const exported = program();
  const value = await Promise.resolve(typeof exported === 'function' ? (exported as () => unknown)() : exported);
  const outputs: RenderedStack['outputs'] = {};
  for (const [k, v] of Object.entries((value ?? {}) as Record<string, unknown>)) {
    const out = pulumi.output(v);
    outputs[k] = { value: await unwrap(out), secret: await pulumi.isSecret(out) };
  }
  await waitForRPCs();
  return { project: opts.project, stack: opts.stack, resources, outputs };
}

function timeoutsOf(req: RegisterRequest): RenderedResource['customTimeouts'] {
  const t = req.getCustomtimeouts?.();
  if (!t || (!t.getCreate() && !t.getUpdate())) return undefined;
  return { create: t.getCreate() || undefined, update: t.getUpdate() || undefined };
}

function unwrap<T>(o: pulumi.Output<T>): Promise<T> {
  return new Promise((resolve) =>
    o.apply((v) => {
      resolve(v);
      return v;
    }),
  );
}

function readProjectId(config: Record<string, string>, project: string): string {
  return config[`${project}:project`] ?? 'mock-project';
}

export interface StackFiles {
  project: string;
  /** Absolute path of the program entry (Pulumi.yaml `main`, default the project directory). */
  main: string;
  config: Record<string, string>;
  secretKeys: string[];
  /** Secret keys not in the stack file that the plan fills with a placeholder (e.g. tokenSecret). */
  placeholders: string[];
  stackFile: string;
}

/** Placeholder for secrets the plan cannot read (encrypted or kept out of the repository). */
export const SECRET_PLACEHOLDER = 'plan-placeholder-secret-value-not-used-anywhere';

/**
 * Read Pulumi.yaml and Pulumi.<stack>.yaml under `root` the way the Pulumi CLI hands config to the
 * program: plain values as strings, lists/objects as JSON, `secure:` values as secrets. Secrets
 * can't be decrypted offline: they, and `requiredSecrets` missing from the file, become a
 * placeholder (masked in every output anyway).
 */
export function readStackFiles(root: string, stack: string, requiredSecrets: readonly string[] = []): StackFiles {
  const projectFile = readYamlFile(path.join(root, 'Pulumi.yaml')) as { name?: string; main?: string } | undefined;
  if (!projectFile?.name) throw new Error(`no Pulumi.yaml with a name in ${root}`);
  const stackFile = path.join(root, `Pulumi.${stack}.yaml`);
  const settings = readYamlFile(stackFile) as { config?: Record<string, unknown> } | undefined;
  if (!settings) throw new Error(`no stack file ${path.relative(root, stackFile) || stackFile}`);
  const config: Record<string, string> = {};
  const secretKeys: string[] = [];
  const placeholders: string[] = [];
  for (const [rawKey, value] of Object.entries(settings.config ?? {})) {
    const key = rawKey.includes(':') ? rawKey : `${projectFile.name}:${rawKey}`;
    if (value !== null && typeof value === 'object' && !Array.isArray(value) && 'secure' in value) {
      config[key] = SECRET_PLACEHOLDER;
      secretKeys.push(key);
      placeholders.push(key);
    } else {
      config[key] = typeof value === 'string' ? value : JSON.stringify(value);
    }
  }
  for (const short of requiredSecrets) {
    const key = `${projectFile.name}:${short}`;
    if (!(key in config)) {
      config[key] = SECRET_PLACEHOLDER;
      secretKeys.push(key);
      placeholders.push(key);
    }
  }
  return {
    project: projectFile.name,
    main: path.resolve(root, projectFile.main ?? '.'),
    config,
    secretKeys,
    placeholders,
    stackFile,
  };
}
