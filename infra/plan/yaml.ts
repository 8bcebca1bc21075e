/**
 * YAML for Pulumi.yaml and Pulumi.<stack>.yaml. No parser is a direct dependency of this repo; the
 * Pulumi SDK depends on js-yaml (it reads the same files), so this resolves js-yaml from
 * @pulumi/pulumi's own location, which works whether npm hoisted it or nested it.
 */
import fs from 'node:fs';
import path from 'node:path';

interface JsYaml {
  load(text: string, opts?: { filename?: string }): unknown;
}

let yaml: JsYaml | undefined;

function parser(): JsYaml {
  if (!yaml) {
    const sdkDir = path.dirname(require.resolve('@pulumi/pulumi/package.json'));
    yaml = require(require.resolve('js-yaml', { paths: [sdkDir] })) as JsYaml;
  }
  return yaml;
}

/** Parse a YAML file; undefined when it does not exist. */
export function readYamlFile(file: string): unknown {
  if (!fs.existsSync(file)) return undefined;
  return parser().load(fs.readFileSync(file, 'utf8'), { filename: file });
}

export function parseYaml(text: string): unknown {
  return parser().load(text);
}
