/**
 * `oidc-gw completion bash|zsh|fish`: prints a shell completion script for
 * every command, subcommand and flag, with the values a flag takes (its
 * choices, `--format` and `--print` values, files) and the profile names of
 * the config file (docs/commands/completion.md).
 *
 * The script is made from the commands as registered at run time (cli/
 * registers every command in full for `completion`), so a new flag is
 * completed without touching this file. Profile names are not baked in: the
 * script asks `oidc-gw completion SHELL --list-profiles` when they are
 * needed, which prints one name a line and nothing at all on any failure.
 */
import { Argument, Option, type Command } from 'commander';
import type { Context } from '../context.js';
import { addCommonOptions, type CommandHost } from './host.js';

export const SHELLS = ['bash', 'zsh', 'fish'] as const;
export type Shell = (typeof SHELLS)[number];

/** Flags and arguments that name a profile. */
const PROFILE_FLAGS = new Set(['--profile', '--name']);
/** Value names (`--flag <file>`) completed with file names (`decode --path <path>` is a request path). */
const FILE_VALUES = new Set(['file']);

export function register(program: Command, host: CommandHost): void {
  const cmd = addCommonOptions(
    program
      .command('completion')
      .description('print a shell completion script (bash, zsh or fish)')
      .addArgument(new Argument('<shell>', 'bash, zsh or fish').choices(SHELLS))
      .addOption(
        new Option('--list-profiles', 'print the profile names (used by the scripts)').hideHelp(),
      ),
  );
  cmd.addHelpText(
    'after',
    `
Install (docs/commands/completion.md):
  bash  echo 'source <(oidc-gw completion bash)' >> ~/.bashrc
  zsh   echo 'source <(oidc-gw completion zsh)' >> ~/.zshrc
  fish  oidc-gw completion fish > ~/.config/fish/completions/oidc-gw.fish`,
  );
  host.action(cmd, async (ctx, args, opts) => {
    const shell = args[0] as Shell;
    if (opts.listProfiles === true) {
      await listProfiles(ctx);
      return 0;
    }
    ctx.out.data(completionScript(shell, describe(program)));
    return 0;
  });
}

/** One name a line; nothing on any failure (a completion never prints errors). */
async function listProfiles(ctx: Context): Promise<void> {
  try {
    const { configFilePath } = await import('../config/paths.js');
    const { loadConfig } = await import('../config/config-file.js');
    const config = await loadConfig(configFilePath(ctx.env, ctx.globals.config));
    const names = Object.keys(config.profiles).filter((n) => /^[\w.@+-]{1,100}$/.test(n));
    if (names.length > 0) ctx.out.data(`${names.sort().join('\n')}\n`);
  } catch {
    // an unreadable or invalid config file completes nothing
  }
}

/** What a value completes to: fixed words, profile names, file names, or nothing. */
export type Values =
  | { readonly kind: 'words'; readonly words: readonly string[] }
  | { readonly kind: 'profiles' }
  | { readonly kind: 'files' }
  | { readonly kind: 'none' };

export interface FlagSpec {
  /** `-p` and/or `--profile`. */
  readonly names: readonly string[];
  readonly description: string;
  /** undefined: a switch, no value. */
  readonly values: Values | undefined;
}

export interface CommandSpec {
  /** Words from the top: `[]` for the program, `['config', 'init']` for a subcommand. */
  readonly path: readonly string[];
  readonly aliases: readonly string[];
  readonly description: string;
  readonly flags: readonly FlagSpec[];
  readonly args: readonly Values[];
  readonly subcommands: readonly CommandSpec[];
}

/** The command tree as completion sees it (visible commands and flags, plus -h/--help). */
export function describe(cmd: Command, path: readonly string[] = []): CommandSpec {
  const help: FlagSpec = { names: ['-h', '--help'], description: 'show help', values: undefined };
  const flags: FlagSpec[] = cmd.options
    .filter((o) => !o.hidden)
    .map((o) => ({
      names: [o.short, o.long].filter((n): n is string => typeof n === 'string'),
      description: o.description,
      values: o.required || o.optional ? optionValues(o) : undefined,
    }));
  if (!flags.some((f) => f.names.includes('--help'))) flags.push(help);
  return {
    path,
    aliases: cmd.aliases(),
    description: cmd.description(),
    flags,
    args: cmd.registeredArguments.map(argumentValues),
    subcommands: cmd.commands
      .filter((c) => c.name() !== 'help' && !(c as unknown as { _hidden?: boolean })._hidden)
      .map((c) => describe(c, [...path, c.name()])),
  };
}

function optionValues(o: Option): Values {
  if (o.argChoices && o.argChoices.length > 0) return { kind: 'words', words: o.argChoices };
  const long = o.long ?? '';
  if (PROFILE_FLAGS.has(long)) return { kind: 'profiles' };
  const valueName = /[<[]([^>\]]+)[>\]]/.exec(o.flags)?.[1]?.toLowerCase() ?? '';
  if (FILE_VALUES.has(valueName) || long === '--config') return { kind: 'files' };
  return { kind: 'none' };
}

function argumentValues(a: Argument): Values {
  if (a.argChoices && a.argChoices.length > 0) return { kind: 'words', words: a.argChoices };
  if (a.name() === 'profile') return { kind: 'profiles' };
  if (FILE_VALUES.has(a.name().toLowerCase())) return { kind: 'files' };
  return { kind: 'none' };
}

export function completionScript(shell: Shell, spec: CommandSpec): string {
  switch (shell) {
    case 'bash':
      return bashScript(spec);
    case 'zsh':
      return zshScript(spec);
    case 'fish':
      return fishScript(spec);
  }
}

/** Every command of the tree, depth first, the program first. */
function walk(spec: CommandSpec): CommandSpec[] {
  return [spec, ...spec.subcommands.flatMap(walk)];
}

/** Single-quoted for sh/bash/zsh/fish (none of our words has a quote; escaped anyway). */
function sq(text: string): string {
  return `'${text.replace(/\\/g, '\\\\').replace(/'/g, `'\\''`)}'`;
}

function valuesWord(values: Values): string {
  switch (values.kind) {
    case 'words':
      return values.words.join(' ');
    case 'profiles':
      return '@profiles';
    case 'files':
      return '@files';
    case 'none':
      return '';
  }
}

/**
 * The bash script. `_oidc_gw_spec KEY|WHAT` sets REPLY from one table, KEY
 * being the command words so far (`config init`); WHAT is `commands`,
 * `flags`, `valued` (the flags that take a value), `argN` or a flag (its
 * values). `@profiles` and `@files` are completed by the function itself.
 */
function bashScript(spec: CommandSpec): string {
  const rows: string[] = [];
  const aliases: string[] = [];
  for (const cmd of walk(spec)) {
    const key = cmd.path.join(' ');
    const row = (what: string, value: string) => {
      if (value !== '') rows.push(`    ${sq(`${key}|${what}`)}) REPLY=${sq(value)} ;;`);
    };
    row(
      'commands',
      cmd.subcommands.flatMap((c) => [c.path[c.path.length - 1] as string, ...c.aliases]).join(' '),
    );
    row('flags', cmd.flags.flatMap((f) => f.names).join(' '));
    row(
      'valued',
      cmd.flags
        .filter((f) => f.values)
        .flatMap((f) => f.names)
        .join(' '),
    );
    cmd.args.forEach((a, i) => row(`arg${i}`, valuesWord(a)));
    for (const flag of cmd.flags) {
      if (flag.values) for (const name of flag.names) row(name, valuesWord(flag.values));
    }
    for (const alias of cmd.aliases) {
      const aliasKey = [...cmd.path.slice(0, -1), alias].join(' ');
      aliases.push(`    ${sq(aliasKey)}) key=${sq(key)} ;;`);
    }
  }
  return `# oidc-gw completion for bash: \`oidc-gw completion bash\` (docs/commands/completion.md).
# Install: echo 'source <(oidc-gw completion bash)' >> ~/.bashrc
# Commands and flags are those of the oidc-gw that printed this script;
# profile names are read from the config file when completed.

_oidc_gw_spec() {
  case "$1" in
${rows.join('\n')}
    *) REPLY='' ;;
  esac
}

_oidc_gw_alias() {
  case "$key" in
${aliases.join('\n')}
  esac
}

_oidc_gw_values() {
  case "$1" in
    '') COMPREPLY=() ;;
    @profiles)
      local profiles
      if [[ -n "$config" ]]; then
        profiles="$(command oidc-gw completion bash --list-profiles --config "$config" 2>/dev/null)"
      else
        profiles="$(command oidc-gw completion bash --list-profiles 2>/dev/null)"
      fi
      COMPREPLY=($(compgen -W "$profiles" -- "$cur")) ;;
    @files)
      compopt -o filenames 2>/dev/null
      COMPREPLY=($(compgen -f -- "$cur")) ;;
    *) COMPREPLY=($(compgen -W "$1" -- "$cur")) ;;
  esac
}

_oidc_gw() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" key='' config='' flag='' w REPLY
  local -i i end=COMP_CWORD nargs=0
  COMPREPLY=()
  # --flag=value: bash splits the word at "=" (COMP_WORDBREAKS)
  if [[ "$cur" == '=' ]]; then
    flag="\${COMP_WORDS[COMP_CWORD-1]}"; cur=''; end=COMP_CWORD-1
  elif (( COMP_CWORD >= 2 )) && [[ "\${COMP_WORDS[COMP_CWORD-1]}" == '=' ]]; then
    flag="\${COMP_WORDS[COMP_CWORD-2]}"; end=COMP_CWORD-2
  fi
  for (( i = 1; i < end; i++ )); do
    w="\${COMP_WORDS[i]}"
    if [[ "$w" == -* ]]; then
      _oidc_gw_spec "$key|valued"
      if [[ " $REPLY " == *" $w "* ]]; then
        (( i + 1 < end )) && [[ "\${COMP_WORDS[i+1]}" == '=' ]] && (( i++ ))
        (( i++ ))
        if (( i == end )); then flag="$w"; break; fi
        [[ "$w" == --config ]] && config="\${COMP_WORDS[i]}"
      fi
      continue
    fi
    _oidc_gw_spec "$key|commands"
    if (( nargs == 0 )) && [[ " $REPLY " == *" $w "* ]]; then
      key="\${key:+$key }$w"
      _oidc_gw_alias
    else
      (( nargs++ ))
    fi
  done
  if [[ -z "$flag" ]] && (( end == COMP_CWORD && COMP_CWORD > 1 )); then
    w="\${COMP_WORDS[COMP_CWORD-1]}"
    if [[ "$w" == -* ]]; then
      _oidc_gw_spec "$key|valued"
      [[ " $REPLY " == *" $w "* ]] && flag="$w"
    fi
  fi
  if [[ -n "$flag" ]]; then
    _oidc_gw_spec "$key|$flag"
    _oidc_gw_values "$REPLY"
    return 0
  fi
  if [[ "$cur" == -* ]]; then
    _oidc_gw_spec "$key|flags"
    COMPREPLY=($(compgen -W "$REPLY" -- "$cur"))
    return 0
  fi
  _oidc_gw_spec "$key|commands"
  if [[ -n "$REPLY" ]] && (( nargs == 0 )); then
    COMPREPLY=($(compgen -W "$REPLY" -- "$cur"))
    return 0
  fi
  _oidc_gw_spec "$key|arg$nargs"
  _oidc_gw_values "$REPLY"
  return 0
}

complete -F _oidc_gw oidc-gw
`;
}

/** zsh runs the bash script through its bash compatibility layer (bashcompinit). */
function zshScript(spec: CommandSpec): string {
  return `# oidc-gw completion for zsh: \`oidc-gw completion zsh\` (docs/commands/completion.md).
# Install: echo 'source <(oidc-gw completion zsh)' >> ~/.zshrc  (after compinit)
# It uses zsh's bash completion layer (bashcompinit) with the bash script below.
autoload -U +X compinit && { (( \${+_comps} )) || compinit; }
autoload -U +X bashcompinit && bashcompinit
${bashScript(spec)
  .split('\n')
  .filter((line) => !line.startsWith('# '))
  .join('\n')
  .replace(/completion bash --list-profiles/g, 'completion zsh --list-profiles')}`;
}

/** fish: one `complete` line per command, flag and argument. */
function fishScript(spec: CommandSpec): string {
  const lines: string[] = [
    '# oidc-gw completion for fish: `oidc-gw completion fish` (docs/commands/completion.md).',
    '# Install: oidc-gw completion fish > ~/.config/fish/completions/oidc-gw.fish',
    '',
    '# The command words typed so far (aliases resolved), without flags and their values.',
    'function __oidc_gw_path',
    '    set -l words (commandline -opc)',
    '    set -e words[1]',
    '    set -l path',
    '    set -l skip 0',
    '    for w in $words',
    '        if test $skip -eq 1',
    '            set skip 0',
    '            continue',
    '        end',
    '        switch $w',
    '            case "--*=*"',
    '                continue',
    '            case "-*"',
    '                if contains -- $w (__oidc_gw_valued (string join " " $path))',
    '                    set skip 1',
    '                end',
    '                continue',
    '        end',
    '        set -l next (string trim -- (string join " " $path $w))',
    '        if contains -- $next (__oidc_gw_commands)',
    '            set path $path $w',
    '        else',
    '            break',
    '        end',
    '    end',
    '    string join " " $path',
    'end',
    '',
    'function __oidc_gw_in',
    '    set -l path (__oidc_gw_path)',
    '    test "$path" = "$argv[1]"',
    'end',
    '',
  ];
  const all = walk(spec);
  const keys = all.flatMap((c) => {
    const key = c.path.join(' ');
    const aliasKeys = c.aliases.map((a) => [...c.path.slice(0, -1), a].join(' '));
    return key === '' ? [] : [key, ...aliasKeys];
  });
  lines.push(
    'function __oidc_gw_commands',
    `    printf '%s\\n' ${keys.map(sq).join(' ')}`,
    'end',
    '',
  );
  lines.push('function __oidc_gw_valued', '    switch "$argv[1]"');
  for (const cmd of all) {
    const valued = cmd.flags.filter((f) => f.values).flatMap((f) => f.names);
    if (valued.length === 0) continue;
    const keysOf = [
      cmd.path.join(' '),
      ...cmd.aliases.map((a) => [...cmd.path.slice(0, -1), a].join(' ')),
    ];
    lines.push(
      `        case ${keysOf.map(sq).join(' ')}`,
      `            printf '%s\\n' ${valued.map(sq).join(' ')}`,
    );
  }
  lines.push('    end', 'end', '', 'complete -c oidc-gw -f');
  const profiles = '(oidc-gw completion fish --list-profiles 2>/dev/null)';
  const fishValues = (v: Values): string => {
    switch (v.kind) {
      case 'words':
        return ` -x -a ${sq(v.words.join(' '))}`;
      case 'profiles':
        return ` -x -a ${sq(profiles)}`;
      case 'files':
        return ' -r -F';
      case 'none':
        return ' -x';
    }
  };
  for (const cmd of all) {
    const conditions = [
      cmd.path.join(' '),
      ...cmd.aliases.map((a) => [...cmd.path.slice(0, -1), a].join(' ')),
    ];
    for (const key of conditions) {
      const when = `-n ${sq(`__oidc_gw_in ${sq(key)}`)}`;
      for (const sub of cmd.subcommands) {
        const name = sub.path[sub.path.length - 1] as string;
        for (const word of [name, ...sub.aliases]) {
          lines.push(`complete -c oidc-gw ${when} -a ${sq(word)} -d ${sq(sub.description)}`);
        }
      }
      for (const flag of cmd.flags) {
        const names = flag.names
          .map((n) => (n.startsWith('--') ? ` -l ${n.slice(2)}` : ` -s ${n.slice(1)}`))
          .join('');
        const values = flag.values ? fishValues(flag.values) : '';
        lines.push(`complete -c oidc-gw ${when}${names}${values} -d ${sq(flag.description)}`);
      }
      const first = cmd.args[0];
      if (first && first.kind !== 'none') {
        const args =
          first.kind === 'files'
            ? ' -F'
            : ` -a ${sq(first.kind === 'profiles' ? profiles : first.words.join(' '))}`;
        lines.push(`complete -c oidc-gw ${when}${args}`);
      }
    }
  }
  return `${lines.join('\n')}\n`;
}
