// The operator's documents name only commands and options that exist: every `xenimage …` line in the shell blocks
// and code spans of README.md and docs/operator-guide.md is parsed by the real command definitions (the ones
// `--help` prints), with the actions replaced, so an unknown command, option or missing argument fails here.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { Command, CommanderError } from 'commander';
import { buildProgram, DELEGATED_COMMANDS } from '../../src/cli/program.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const DOCUMENTS = ['README.md', 'docs/operator-guide.md'];

/** Shell words of one line: quotes group, `#` at a word's start ends the line, `VAR=value` prefixes are dropped. */
function shellWords(line: string): string[] {
  const words: string[] = [];
  let word: string | undefined;
  let quote: string | undefined;
  for (const ch of line) {
    if (quote) {
      if (ch === quote) quote = undefined;
      else word += ch;
    } else if (ch === '"' || ch === "'") {
      quote = ch;
      word ??= '';
    } else if (/\s/.test(ch)) {
      if (word !== undefined) words.push(word);
      word = undefined;
    } else if (ch === '#' && word === undefined) break;
    else word = (word ?? '') + ch;
  }
  assert.equal(quote, undefined, `unbalanced quote in: ${line}`);
  if (word !== undefined) words.push(word);
  while (words[0] && /^[A-Z_][A-Z0-9_]*=/.test(words[0])) words.shift();
  return words;
}

/** Command lines of a markdown text: shell blocks (continuations joined) and inline code spans. */
function commandLines(markdown: string): Array<{ line: string; synopsis: boolean; shell: boolean }> {
  const found: Array<{ line: string; synopsis: boolean; shell: boolean }> = [];
  const fence = /^\s*```(\w*)\s*$/;
  let inShell = false;
  let pending = '';
  const prose: string[] = [];
  for (const raw of markdown.split('\n')) {
    const m = fence.exec(raw);
    if (m) {
      inShell = !inShell && (m[1] === 'sh' || m[1] === 'bash');
      continue;
    }
    if (!inShell) {
      prose.push(raw);
      continue;
    }
    const joined = pending + raw.trim();
    if (joined.endsWith('\\')) {
      pending = joined.slice(0, -1).trimEnd() + ' ';
      continue;
    }
    pending = '';
    const words = shellWords(joined);
    if (words[0] === 'xenimage') found.push({ line: joined, synopsis: false, shell: true });
  }
  for (const span of prose.join('\n').matchAll(/`(xenimage [^`]+)`/g)) {
    // A synopsis ("[--fresh]", "--cron EXPR | --every DURATION", "NAME…") shows a shape, not a line to run.
    found.push({ line: span[1]!, synopsis: /[[\]|…]/.test(span[1]!), shell: false });
  }
  return found;
}

/** The real definitions, delegated ones included, with no-op actions and errors thrown instead of exits. */
async function definitions(): Promise<Command> {
  const program = buildProgram();
  for (const spec of Object.values(DELEGATED_COMMANDS)) {
    const index = program.commands.findIndex((c) => c.name() === spec.name);
    const real = new Command('xenimage');
    (await spec.load())(real);
    (program.commands as Command[])[index] = real.commands.find((c) => c.name() === spec.name)!;
  }
  const quiet = (cmd: Command) => {
    cmd.exitOverride().configureOutput({ writeOut: () => undefined, writeErr: () => undefined });
    if (cmd.commands.length === 0) cmd.action(() => undefined);
    cmd.commands.forEach(quiet);
  };
  quiet(program);
  return program;
}

test('every xenimage command line in README.md and the operator guide parses with the real definitions', async () => {
  const program = await definitions();
  const checked: string[] = [];
  for (const doc of DOCUMENTS) {
    const lines = commandLines(await readFile(path.join(ROOT, doc), 'utf8'));
    assert.ok(lines.length > 0, `${doc} has command lines`);
    for (const { line, synopsis, shell } of lines) {
      const words = shellWords(line).slice(1);
      // The command path must exist even in a synopsis.
      let cmd = program;
      while (cmd.commands.length && words[0] && !words[0].startsWith('-')) {
        const sub = cmd.commands.find((c) => c.name() === words[0]);
        if (!sub) break;
        cmd = sub;
        words.shift();
      }
      // Prose may name a command ("`xenimage status` shows…", "`xenimage schedule` …"): it must exist.
      if (words.length === 0 && !shell && cmd !== program) continue;
      // What follows a command group can only be its options (`xenimage --help`, `xenimage schedule --help`).
      assert.ok(
        cmd.commands.length === 0 || words[0]?.startsWith('-'),
        `${doc}: "${line}" names no command of ${cmd.name()}`,
      );
      if (synopsis) continue;
      try {
        await cmd.parseAsync(words, { from: 'user' });
      } catch (err) {
        if (err instanceof CommanderError && err.code === 'commander.helpDisplayed') continue;
        assert.fail(`${doc}: "${line}": ${(err as Error).message}`);
      }
      checked.push(line);
    }
  }
  // The guide's own examples of each area are among them (the extraction found the blocks).
  for (const expected of [
    'xenimage deployment set-current',
    'xenimage schedule create',
    'xenimage worker --deployment',
  ])
    assert.ok(
      checked.some((l) => l.startsWith(expected)),
      `${expected} checked (${checked.length} lines)`,
    );
});

test('the operator guide shows every command the CLI has', async () => {
  const program = await definitions();
  const leaves = (cmd: Command, prefix: string[]): string[] =>
    cmd.commands.length
      ? cmd.commands.filter((c) => c.name() !== 'help').flatMap((c) => leaves(c, [...prefix, c.name()]))
      : [prefix.join(' ')];
  const shown = commandLines(await readFile(path.join(ROOT, 'docs/operator-guide.md'), 'utf8')).map(({ line }) =>
    shellWords(line).join(' '),
  );
  const missing = leaves(program, ['xenimage']).filter(
    (command) => !shown.some((l) => l === command || l.startsWith(`${command} `)),
  );
  assert.deepEqual(missing, [], 'commands the guide never shows');
});

test('an unknown option in a documented line would fail (the check can fail)', async () => {
  const program = await definitions();
  const status = program.commands.find((c) => c.name() === 'status')!;
  await assert.rejects(status.parseAsync(['ID', '--frobnicate'], { from: 'user' }), /unknown option '--frobnicate'/);
  assert.deepEqual(
    commandLines('```sh\nFOO=1 \\\n  xenimage list --running   # comment\n```\nsee `xenimage lab [--fresh]`'),
    [
      { line: 'FOO=1 xenimage list --running   # comment', synopsis: false, shell: true },
      { line: 'xenimage lab [--fresh]', synopsis: true, shell: false },
    ],
  );
});
