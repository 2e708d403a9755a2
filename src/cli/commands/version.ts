import { parseArgs } from 'node:util';
import { hoistVersion } from '../../version.ts';
import type { Command } from '../command.ts';

export const versionCommand: Command = {
  name: 'version',
  usage: 'hoist version [--output text|json]',
  async run(args, io) {
    const { values } = parseArgs({ args, options: { output: { type: 'string', short: 'o', default: 'text' } } });
    const info = { version: hoistVersion, node: process.version, platform: `${process.platform}/${process.arch}` };
    if (values.output === 'json') io.out.write(`${JSON.stringify(info)}\n`);
    else io.out.write(`hoist ${info.version} (node ${info.node}, ${info.platform})\n`);
    return 0;
  },
};
