// The qemu-img bridge: facts about formats our readers do not parse (vmdk, vhdx, vdi, qed…; always with `-f`),
// the data extents of raw files (their holes), and conversion of foreign formats into a temporary qcow2 that our
// reader then reads. Every child is killed on abort and every temporary file is removed. Decision:
// docs/decisions/disk-0002-qemu-img-bridge.md.
import { spawnTool } from '../host/spawn.js';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { DiskFormatUnsupportedError, DiskToolError } from './errors.js';

export const QEMU_IMG = process.env.XENIMAGE_QEMU_IMG ?? 'qemu-img';
const MAX_OUTPUT = 4 * 1024 * 1024;

/**
 * qemu-img's whole environment: where to find itself, and a fixed locale. No secret variable of the worker
 * (XENIMAGE_SECRET_*, OS_PASSWORD, …) reaches it. Files are always absolute paths with `-f`, so no name is read
 * as a protocol (nbd:, http:, json:).
 */
function qemuEnv(): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH ?? '/usr/bin:/bin', LC_ALL: 'C' };
}

interface RunOptions {
  signal?: AbortSignal;
  timeoutMs?: number;
  /** Called with each chunk of stdout (progress); stdout is not collected when set. */
  onStdout?: (text: string) => void;
}

/** Runs qemu-img and returns its stdout; a non-zero exit is a DiskToolFailed error carrying stderr's first line. */
export async function runQemuImg(args: string[], options: RunOptions = {}): Promise<string> {
  options.signal?.throwIfAborted();
  const child = spawnTool(QEMU_IMG, args, { stdio: ['ignore', 'pipe', 'pipe'], env: qemuEnv() });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => {
    if (options.onStdout) options.onStdout(s);
    else if (stdout.length < MAX_OUTPUT) stdout += s;
  });
  child.stderr.setEncoding('utf8').on('data', (s: string) => {
    if (stderr.length < 64 * 1024) stderr += s;
  });
  const onAbort = () => child.kill('SIGKILL');
  options.signal?.addEventListener('abort', onAbort, { once: true });
  const timer = setTimeout(onAbort, options.timeoutMs ?? 10 * 60 * 1000);
  try {
    const [code, sig] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve, reject) => {
      child.once('error', reject);
      child.once('close', (c, s) => resolve([c, s]));
    }).catch((err: NodeJS.ErrnoException) => {
      throw new DiskToolError(
        err.code === 'ENOENT'
          ? `${QEMU_IMG} is not installed (package qemu-utils)`
          : `cannot run ${QEMU_IMG}: ${err.message}`,
        { retryable: false, cause: err },
      );
    });
    options.signal?.throwIfAborted();
    if (code !== 0) {
      const reason = stderr.trim().split('\n')[0] ?? '';
      throw new DiskToolError(
        `qemu-img ${args[0]} failed (${sig ?? `exit ${code}`}): ${reason.replace(/^qemu-img: /, '')}`,
        {
          retryable: false,
          details: { exitCode: code, signal: sig },
        },
      );
    }
    return stdout;
  } finally {
    clearTimeout(timer);
    options.signal?.removeEventListener('abort', onAbort);
  }
}

export interface QemuImageInfo {
  format: string;
  virtualSize: number;
  encrypted: boolean;
  backingFile?: string;
  /** vmdk: the files holding its extents. */
  extentFiles: string[];
}

/** `qemu-img info` of a file whose format the project has proven (never a probe: `-f` always). */
export async function qemuImgInfo(file: string, format: string, signal?: AbortSignal): Promise<QemuImageInfo> {
  const args = ['info', '--output=json', '-f', format, path.resolve(file)];
  const json = JSON.parse(await runQemuImg(args, { signal, timeoutMs: 60_000 })) as Record<string, unknown>;
  const specific = (json['format-specific'] as { data?: { extents?: Array<{ filename?: string }> } } | undefined)?.data;
  return {
    format: String(json.format),
    virtualSize: Number(json['virtual-size']),
    encrypted: json.encrypted === true,
    backingFile: typeof json['backing-filename'] === 'string' ? (json['backing-filename'] as string) : undefined,
    extentFiles: (specific?.extents ?? []).map((e) => String(e.filename ?? '')),
  };
}

/** Byte ranges of a raw file that hold data (holes skipped), from `qemu-img map`, streamed line by line. */
export async function rawDataExtents(file: string, signal?: AbortSignal): Promise<Array<[number, number]>> {
  signal?.throwIfAborted();
  const child = spawnTool(QEMU_IMG, ['map', '-f', 'raw', '--output=json', path.resolve(file)], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: qemuEnv(),
  });
  const onAbort = () => child.kill('SIGKILL');
  signal?.addEventListener('abort', onAbort, { once: true });
  const closed = new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', resolve);
  });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s.slice(0, 4096)));
  const extents: Array<[number, number]> = [];
  const entry = /"start":\s*(\d+),\s*"length":\s*(\d+).*"data":\s*(true|false)/;
  try {
    for await (const line of createInterface({ input: child.stdout })) {
      const m = entry.exec(line);
      if (!m || m[3] !== 'true') continue;
      const start = Number(m[1]);
      const end = start + Number(m[2]);
      const last = extents[extents.length - 1];
      if (last && last[1] === start) last[1] = end;
      else extents.push([start, end]);
    }
    const code = await closed.catch((err: Error) => {
      throw new DiskToolError(`cannot run ${QEMU_IMG}: ${err.message}`, { cause: err });
    });
    signal?.throwIfAborted();
    if (code !== 0) throw new DiskToolError(`qemu-img map failed: ${stderr.trim().split('\n')[0] ?? ''}`);
    return extents;
  } finally {
    signal?.removeEventListener('abort', onAbort);
    child.kill('SIGKILL');
  }
}

export interface TempImage {
  path: string;
  remove(): Promise<void>;
}

/**
 * Refuses what a bridged conversion must not do: read encrypted data, follow a backing chain, or open other
 * files named inside the image (a vmdk descriptor can point anywhere on the host).
 */
export function assertBridgeable(info: QemuImageInfo, file: string, label = file): void {
  if (info.encrypted)
    throw new DiskFormatUnsupportedError(`${label}: ${info.format} image is encrypted; decrypt it first`);
  if (info.backingFile) {
    throw new DiskFormatUnsupportedError(
      `${label}: ${info.format} image has a backing file '${info.backingFile}'; convert the whole chain into one image first`,
      {
        backingFile: info.backingFile,
      },
    );
  }
  // Extents beside the image only (checkVmdk proved them regular files before qemu-img ran).
  const dir = path.dirname(path.resolve(file));
  const foreign = info.extentFiles.filter((f) => path.dirname(path.resolve(dir, f)) !== dir);
  if (foreign.length > 0) {
    throw new DiskFormatUnsupportedError(
      `${label}: ${info.format} image keeps data in other files outside its folder (${foreign.join(', ')})`,
    );
  }
}

/** Converts `file` (of the detected `format`) into a temporary qcow2 in `tempDir`; the caller must `remove()` it. */
export async function convertToTempQcow2(
  file: string,
  format: string,
  options: { tempDir?: string; signal?: AbortSignal; onProgress?: (fraction: number) => void } = {},
): Promise<TempImage> {
  const dir = await mkdtemp(path.join(options.tempDir ?? os.tmpdir(), 'xenimage-bridge-'));
  const remove = () => rm(dir, { recursive: true, force: true });
  const out = path.join(dir, 'source.qcow2');
  try {
    await runQemuImg(['convert', '-p', '-f', format, '-O', 'qcow2', path.resolve(file), out], {
      signal: options.signal,
      onStdout: (text) => {
        const m = /\((\d+(?:\.\d+)?)\/100%\)/.exec(text.split('\r').filter(Boolean).pop() ?? '');
        if (m) options.onProgress?.(Number(m[1]) / 100);
      },
    });
    return { path: out, remove };
  } catch (err) {
    await remove();
    throw err;
  }
}
