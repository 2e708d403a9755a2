// `hoist completion bash|zsh|fish`: shell completion of commands, their flags, flag values
// (formats, files) and PromotionManifest names (from `hoist get -o name` on the current
// context), written from the commands' own flag lists so it never drifts from them.
import { ExitCode, UsageError, type Command } from '../command.ts';
import type { FlagSpecs } from '../flags.ts';
import { parseFlags } from '../flags.ts';

export interface CompletionSource {
  name: string;
  summary: string;
  flags: FlagSpecs;
}

const formats: Record<string, string> = {
  plan: 'table json yaml', promote: 'table json yaml', verify: 'table json', validate: 'text json',
  convert: 'yaml json', version: 'text json yaml', get: 'wide name json yaml',
};
/** Flags whose value is a path. */
const pathFlags = new Set(['manifest', 'thin-manifest-dir', 'registry-config', 'secrets-dir', 'output-dir', 'kubeconfig', 'key', 'verify-key',
  'trusted-root', 'identity-token-file', 'signing-config', 'diff']);
const takesNames = new Set(['get', 'reconcile', 'suspend', 'resume']);

const words = (flags: FlagSpecs) => Object.entries(flags).flatMap(([name, spec]) => [`--${name}`, ...(spec.short ? [`-${spec.short}`] : [])]);
const valued = (sources: CompletionSource[], pick: (name: string) => boolean) => [...new Set(sources.flatMap((s) => Object.entries(s.flags)
  .filter(([name, spec]) => spec.type === 'string' && pick(name)).flatMap(([name, spec]) => [`--${name}`, ...(spec.short ? [`-${spec.short}`] : [])])))];

export function bashCompletion(sources: CompletionSource[]): string {
  const cases = sources.map((s) => `    ${s.name}) flags="${words(s.flags).join(' ')}"; formats="${formats[s.name] ?? ''}" ;;`).join('\n');
  const fileFlags = valued(sources, (n) => pathFlags.has(n)).join('|');
  const otherValued = valued(sources, (n) => !pathFlags.has(n) && n !== 'output' && n !== 'namespace').join('|');
  return `# bash completion for hoist: source <(hoist completion bash)
_hoist() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" prev="\${COMP_WORDS[COMP_CWORD-1]}"
  local commands="${sources.map((s) => s.name).join(' ')}"
  COMPREPLY=()
  if [[ $COMP_CWORD -eq 1 ]]; then
    COMPREPLY=($(compgen -W "$commands --help --version" -- "$cur"))
    return 0
  fi
  local cmd="\${COMP_WORDS[1]}" flags="" formats=""
  case "$cmd" in
${cases}
  esac
  case "$prev" in
    -o|--output) COMPREPLY=($(compgen -W "$formats" -- "$cur")); return 0 ;;
    ${fileFlags}) COMPREPLY=($(compgen -f -- "$cur")); return 0 ;;
    -n|--namespace|${otherValued}) return 0 ;;
  esac
  if [[ "$cur" == -* ]]; then
    COMPREPLY=($(compgen -W "$flags --help" -- "$cur"))
    return 0
  fi
  case "$cmd" in
    ${[...takesNames].join('|')})
      local ns=() i
      for ((i = 2; i < COMP_CWORD; i++)); do
        case "\${COMP_WORDS[i]}" in -n|--namespace|--kubeconfig|--context) ns+=("\${COMP_WORDS[i]}" "\${COMP_WORDS[i+1]}") ;; -A|--all-namespaces) ns+=(-A) ;; esac
      done
      local names
      names=$("\${COMP_WORDS[0]}" get -o name "\${ns[@]}" 2>/dev/null | sed 's|.*/||')
      COMPREPLY=($(compgen -W "$names" -- "$cur")) ;;
    completion) COMPREPLY=($(compgen -W "bash zsh fish" -- "$cur")) ;;
    help) COMPREPLY=($(compgen -W "$commands" -- "$cur")) ;;
    *) COMPREPLY=($(compgen -f -- "$cur")) ;;
  esac
  return 0
}
complete -o default -F _hoist hoist
`;
}

/** zsh runs the bash function through its bashcompinit layer, so both shells complete alike. */
export function zshCompletion(sources: CompletionSource[]): string {
  return `#compdef hoist
# zsh completion for hoist: source <(hoist completion zsh), or save as _hoist in a $fpath folder
autoload -U +X bashcompinit && bashcompinit
${bashCompletion(sources).split('\n').slice(1).join('\n')}`;
}

const fishQuote = (text: string) => `'${text.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;

export function fishCompletion(sources: CompletionSource[]): string {
  const lines = [
    '# fish completion for hoist: hoist completion fish | source',
    'complete -c hoist -f',
    `complete -c hoist -n __fish_use_subcommand -a completion -d ${fishQuote('Print a shell completion script')}`,
  ];
  for (const s of sources) {
    if (s.name === 'completion') continue;
    lines.push(`complete -c hoist -n __fish_use_subcommand -a ${s.name} -d ${fishQuote(s.summary)}`);
  }
  for (const s of sources) {
    const when = `-n '__fish_seen_subcommand_from ${s.name}'`;
    for (const [name, spec] of Object.entries(s.flags)) {
      const short = spec.short ? ` -s ${spec.short}` : '';
      const value = spec.type !== 'string' ? '' : name === 'output' && formats[s.name] ? ` -x -a ${fishQuote(formats[s.name]!)}` : pathFlags.has(name) ? ' -r -F' : ' -x';
      lines.push(`complete -c hoist ${when} -l ${name}${short}${value}`);
    }
    if (takesNames.has(s.name)) lines.push(`complete -c hoist ${when} -a '(hoist get -o name 2>/dev/null | string replace -r ".*/" "")'`);
  }
  lines.push(`complete -c hoist -n '__fish_seen_subcommand_from completion' -a 'bash zsh fish'`);
  lines.push(`complete -c hoist -n '__fish_seen_subcommand_from validate convert plan promote' -F`);
  return `${lines.join('\n')}\n`;
}

export function completionCommand(sources: () => Promise<CompletionSource[]>): Command {
  return {
    name: 'completion',
    usage: `hoist completion bash|zsh|fish

Prints a completion script for the shell: commands, flags, formats, files and PromotionManifest
names (from the current kubeconfig context).

  bash:  source <(hoist completion bash)          # in ~/.bashrc
  zsh:   source <(hoist completion zsh)           # in ~/.zshrc
  fish:  hoist completion fish | source           # or > ~/.config/fish/completions/hoist.fish`,
    flags: {},
    async run(args, io) {
      const { positionals } = parseFlags('completion', args, {}, { positionals: true });
      const shell = positionals[0];
      if (positionals.length !== 1 || !['bash', 'zsh', 'fish'].includes(shell!)) throw new UsageError('completion takes one shell: bash, zsh or fish');
      const all = await sources();
      io.out.write(shell === 'bash' ? bashCompletion(all) : shell === 'zsh' ? zshCompletion(all) : fishCompletion(all));
      return ExitCode.Ok;
    },
  };
}
