/** YAML for Pulumi.yaml and Pulumi.<stack>.yaml (js-yaml, the parser the Pulumi SDK uses too). */
import fs from 'node:fs';
import yaml from 'js-yaml';

/** Parse a YAML file; undefined when it does not exist. */
export function readYamlFile(file: string): unknown {
  if (!fs.existsSync(file)) return undefined;
  return yaml.load(fs.readFileSync(file, 'utf8'), { filename: file });
}

export function parseYaml(text: string): unknown {
  return yaml.load(text);
}
