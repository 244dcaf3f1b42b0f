// A stand-in for apt-get on a PATH that hides the real tools: it records each call (its arguments and the
// DEBIAN_FRONTEND it got), reports progress on the status fd as apt does (APT::Status-Fd=3), and "installs" a
// package by linking the real programs of that package into the PATH folder, so the caller's re-check sees them.
import { chmod, mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';

export interface FakeApt {
  /** The folder to use as PATH. */
  bin: string;
  /** The recorded calls, one argument list each. */
  calls(): Promise<Array<{ args: string[]; frontend: string | undefined }>>;
}

/**
 * `provides` maps a package to the programs it brings: program name → the real file to link. A package listed
 * in `fail` makes the install exit 100 with apt's own kind of error line.
 */
export async function fakeApt(
  dir: string,
  provides: Record<string, Record<string, string>>,
  options: { fail?: string[]; link?: Record<string, string> } = {},
): Promise<FakeApt> {
  const bin = path.join(dir, 'bin');
  const record = path.join(dir, 'apt-calls.jsonl');
  await writeFile(record, '');
  await mkdir(bin, { recursive: true });
  // Programs the test keeps visible (e.g. nothing else is on this PATH).
  for (const [name, target] of Object.entries(options.link ?? {})) await symlink(target, path.join(bin, name));
  const script = path.join(bin, 'apt-get');
  await writeFile(
    script,
    `#!${process.execPath}
const fs = require('node:fs');
const path = require('node:path');
const args = process.argv.slice(2);
fs.appendFileSync(${JSON.stringify(record)}, JSON.stringify({ args, frontend: process.env.DEBIAN_FRONTEND }) + '\\n');
const status = (line) => { try { fs.writeSync(3, line + '\\n'); } catch {} };
const provides = ${JSON.stringify(provides)};
const fail = ${JSON.stringify(options.fail ?? [])};
const at = args.indexOf('install');
if (at >= 0) {
  const packages = args.slice(at + 1).filter((a, i, all) => !a.startsWith('-') && !(all[i - 1] === '-o'));
  const bad = packages.find((p) => fail.includes(p) || !(p in provides));
  if (bad) { console.error('E: Unable to locate package ' + bad); process.exit(100); }
  status('dlstatus:1:50.0000:Retrieving file 1 of 1');
  packages.forEach((p, i) => {
    for (const [name, target] of Object.entries(provides[p])) {
      const link = path.join(${JSON.stringify(bin)}, name);
      if (!fs.existsSync(link)) fs.symlinkSync(target, link);
    }
    status('pmstatus:' + p + ':' + ((i + 1) * 100 / packages.length) + ':Installed ' + p + ' (amd64)');
  });
}
`,
  );
  await chmod(script, 0o755);
  return {
    bin,
    async calls() {
      const text = await readFile(record, 'utf8');
      return text
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as { args: string[]; frontend: string | undefined });
    },
  };
}
