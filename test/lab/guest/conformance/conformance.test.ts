// The PowerShell / cmd conformance corpus (the *.yaml files beside this test, one per topic): each snippet with
// the output and exit code Windows PowerShell 5.1 or cmd.exe gives for it, from Microsoft's documentation. Every
// snippet runs on a simulated Windows through pywinrm (run_snippets.py), an independent client, and must answer
// exactly: stdout and exit code compared with only CRLF normalised, the error text containing what Windows
// writes (and no error text where Windows writes none).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { parse } from 'yaml';
import { z } from 'zod';
import { startStandaloneWindows } from '../../../../src/lab/guest/standalone.js';
import { tempDir } from '../../../helpers/tmp.js';

// The corpus stays in the source tree (tests run from dist/).
const here = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../../../test/lab/guest/conformance');
const PASSWORD = 'Conformance!pass-1';

const SnippetSchema = z.strictObject({
  name: z.string().min(1),
  shell: z.enum(['powershell', 'cmd', 'batch']).default('powershell'),
  source: z.url().startsWith('https://learn.microsoft.com/'),
  script: z.string().min(1),
  stdout: z.string(),
  exit: z.number().int().default(0),
  /** Text the error stream contains (for PowerShell, the error records of its CLIXML stream). */
  stderr: z.string().optional(),
});
const TopicSchema = z.strictObject({ topic: z.string().min(1), snippets: z.array(SnippetSchema).min(1) });
type Snippet = z.infer<typeof SnippetSchema>;

function loadCorpus(): Snippet[] {
  const files = readdirSync(here)
    .filter((f) => f.endsWith('.yaml'))
    .sort();
  const snippets = files.flatMap((f) => {
    const topic = TopicSchema.parse(parse(readFileSync(path.join(here, f), 'utf8')));
    return topic.snippets.map((s) => ({ ...s, name: `${topic.topic}: ${s.name}` }));
  });
  const dup = snippets.find((s, i) => snippets.findIndex((x) => x.name === s.name) !== i);
  assert.equal(dup, undefined, `snippet names are unique (${dup?.name})`);
  return snippets;
}

/** The text of a PowerShell CLIXML error stream (its Error strings, decoded), or the stream as it is. */
function errorText(stderr: string): string {
  if (!stderr.startsWith('#< CLIXML')) return stderr;
  const parts = [...stderr.matchAll(/<S S="Error">([^<]*)<\/S>/g)].map((m) =>
    m[1]!
      .replace(/_x([0-9A-Fa-f]{4})_/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)))
      .replace(/&lt;/g, '<')
      .replace(/&gt;/g, '>')
      .replace(/&quot;/g, '"')
      .replace(/&apos;/g, "'")
      .replace(/&amp;/g, '&'),
  );
  return parts.join('');
}

const lf = (s: string): string => s.replace(/\r\n/g, '\n');

test('the conformance corpus answers on the simulated Windows as on Windows, through pywinrm', async (t) => {
  const corpus = loadCorpus();
  assert.ok(corpus.length >= 100, `the corpus has ${corpus.length} snippets`);
  const w = await startStandaloneWindows({ adminPassword: PASSWORD, scale: 0.001 });
  t.after(() => w.stop());
  const file = path.join(await tempDir(t), 'snippets.json');
  await writeFile(file, JSON.stringify(corpus));
  const { stdout } = await promisify(execFile)(
    '/usr/bin/python3',
    [path.join(here, 'run_snippets.py'), `http://${w.address}:${w.port}/wsman`, 'Administrator', PASSWORD, file],
    { timeout: 240_000, maxBuffer: 16 * 1024 * 1024 },
  ).catch((err: { stdout?: string; stderr?: string }) => {
    throw new Error(`pywinrm failed:\n${err.stdout ?? ''}\n${err.stderr ?? ''}`);
  });
  const results = JSON.parse(stdout.trim().split('\n').pop()!) as Array<{
    name: string;
    code: number;
    out: string;
    err: string;
  }>;
  assert.equal(results.length, corpus.length);
  for (const [i, s] of corpus.entries()) {
    const r = results[i]!;
    await t.test(s.name, () => {
      const err = lf(errorText(r.err));
      assert.equal(lf(r.out), s.stdout, `stdout of:\n${s.script}\nstderr: ${err}`);
      assert.equal(r.code, s.exit, `exit code of:\n${s.script}\nstderr: ${err}`);
      if (s.stderr === undefined) assert.equal(err, '', `no error text from:\n${s.script}`);
      else assert.ok(err.includes(s.stderr), `error text of:\n${s.script}\nis:\n${err}`);
    });
  }
});
