// A command whose definition lives in a module that is loaded only when the command runs (or its help is asked
// for): `xenimage --help` lists it by name and description; `xenimage NAME …` loads the module, registers its
// real definition on a program of its own and parses the arguments there.
import { Command } from 'commander';

export interface DelegatedCommand {
  name: string;
  /** Shown by `xenimage --help`; test/cli/lazyLoading.test.ts checks it equals the real definition's. */
  description: string;
  load: () => Promise<(program: Command) => unknown>;
}

export function delegateCommand(program: Command, spec: DelegatedCommand): Command {
  return program
    .command(spec.name)
    .description(spec.description)
    .helpOption(false)
    .allowUnknownOption()
    .allowExcessArguments()
    .action(async (_opts: unknown, command: Command) => {
      const register = await spec.load();
      const real = new Command(program.name()).showHelpAfterError();
      register(real);
      await real.parseAsync([spec.name, ...command.args], { from: 'user' });
    });
}

/**
 * `xenimage help [command]` that also reaches delegated commands (commander's own help command prints the
 * placeholder's help, which has no options).
 */
export function installHelpCommand(program: Command): void {
  program.helpCommand(false);
  program
    .command('help')
    .description('display help for command')
    .argument('[command]', 'a command')
    .action(async (name: string | undefined) => {
      const sub = name ? program.commands.find((c) => c.name() === name || c.aliases().includes(name)) : undefined;
      if (!name) program.help();
      if (!sub) program.error(`error: unknown command '${name}'`);
      await sub.parseAsync(['--help'], { from: 'user' });
    });
}
