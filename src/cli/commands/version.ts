import { stringify } from 'yaml';
import { hoistVersion } from '../../version.ts';
import { UsageError, type Command } from '../command.ts';
import { parseFlags } from '../flags.ts';

const flags = { output: { type: 'string', short: 'o', default: 'text' } } as const;

export const versionCommand: Command = {
  name: 'version',
  usage: `hoist version [-o text|json|yaml]

Flags:
  -o, --output FORMAT   text (default), json or yaml`,
  flags,
  async run(args, io) {
    const { values } = parseFlags('version', args, flags);
    const info = { version: hoistVersion, node: process.version, platform: `${process.platform}/${process.arch}` };
    if (values.output === 'json') io.out.write(`${JSON.stringify(info)}\n`);
    else if (values.output === 'yaml') io.out.write(stringify(info));
    else if (values.output === 'text') io.out.write(`hoist ${info.version} (node ${info.node}, ${info.platform})\n`);
    else throw new UsageError(`--output must be text, json or yaml, got "${values.output}"`);
    return 0;
  },
};
