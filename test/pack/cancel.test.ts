// Cancellation: an AbortSignal mid-stream stops the whole pipeline, kills child processes (pigz, qemu-img),
// stops in-flight deflates and leaves no temporary file; closing the image then releases the source file.
import assert from 'node:assert/strict';
import { createReadStream } from 'node:fs';
import { mkdir, open, readdir, readFile, readlink } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { openImageSource, packImage, packVhdStream } from '../../src/pack/pipeline.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/waitFor.js';
import { MiB, run, seededBytes } from '../disk/support.js';

async function randomQcow2(dir: string, dataMiB: number, format = 'qcow2'): Promise<string> {
  const raw = path.join(dir, 'src.raw');
  const fh = await open(raw, 'w');
  await fh.truncate(256 * MiB);
  for (let i = 0; i < dataMiB; i++) await fh.write(seededBytes(MiB, `cancel-${i}`), 0, MiB, i * 2 * MiB);
  await fh.close();
  const file = path.join(dir, `src.${format}`);
  await run('qemu-img', ['convert', '-O', format, raw, file]);
  return file;
}

/** PIDs of our child processes running `name`. */
async function children(name: string): Promise<number[]> {
  const pids: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => '');
    const m = /^\d+ \((.*)\) \S+ (\d+)/.exec(stat);
    if (m && m[1] === name && Number(m[2]) === process.pid) pids.push(Number(entry));
  }
  return pids;
}

async function openFiles(file: string): Promise<number> {
  let n = 0;
  for (const fd of await readdir('/proc/self/fd'))
    if ((await readlink(`/proc/self/fd/${fd}`).catch(() => '')) === file) n++;
  return n;
}

async function consumeUntilAbort(
  stream: NodeJS.ReadableStream,
  controller: AbortController,
  afterBytes: number,
): Promise<Error> {
  let seen = 0;
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      seen += chunk.length;
      if (seen >= afterBytes && !controller.signal.aborted) controller.abort();
    }
  } catch (err) {
    return err as Error;
  }
  throw new Error('the stream ended without an error');
}

for (const compressor of ['pigz', 'threads'] as const) {
  test(`abort mid-stream (${compressor}): stream and result fail, no child process remains, the file is released`, async (t) => {
    const dir = await tempDir(t);
    const src = await randomQcow2(dir, 48);
    const image = await openImageSource({ path: src });
    const controller = new AbortController();
    const packed = packImage(image, { compressor, signal: controller.signal, level: 1 });
    if (compressor === 'pigz') assert.equal((await children('pigz')).length, 1, 'pigz runs');
    const err = await consumeUntilAbort(packed.stream, controller, 4 * MiB);
    assert.equal(err.name, 'AbortError');
    await assert.rejects(packed.result, { name: 'AbortError' });
    // pigz is killed when the stream is destroyed; it is gone once the kernel has reaped it.
    await waitFor('pigz to be killed', async () => (await children('pigz')).length === 0, 10_000);
    assert.equal(await openFiles(src), 1, 'the image keeps its one handle until closed');
    await image.close();
    assert.equal(await openFiles(src), 0, 'closed');
  });
}

test('abort while qemu-img converts a foreign image: qemu-img killed, temporary file removed', async (t) => {
  const dir = await tempDir(t);
  const vmdk = await randomQcow2(dir, 96, 'vmdk');
  const scratch = path.join(dir, 'scratch');
  await mkdir(scratch);
  const controller = new AbortController();
  const opening = openImageSource(
    { path: vmdk },
    {
      signal: controller.signal,
      tempDir: scratch,
      // qemu-img convert reports progress while it runs: abort at its first report.
      onBridgeProgress: (phase) => {
        if (phase === 'convert') controller.abort();
      },
    },
  );
  await assert.rejects(opening, { name: 'AbortError' });
  assert.deepEqual(await children('qemu-img'), []);
  assert.deepEqual(await readdir(scratch), []);
});

test('abort while re-writing an export stream destroys the input', async (t) => {
  const dir = await tempDir(t);
  const src = await randomQcow2(dir, 24, 'vpc');
  const input = createReadStream(src, { highWaterMark: 256 * 1024 });
  const controller = new AbortController();
  const packed = await packVhdStream(input, { signal: controller.signal, level: 1 });
  const err = await consumeUntilAbort(packed.stream, controller, 2 * MiB);
  assert.equal(err.name, 'AbortError');
  // The input is destroyed as the abort unwinds and its file closes on the I/O threads: wait for both, bounded.
  await waitFor('the export input to be destroyed', () => input.destroyed, 10_000);
  await waitFor('the export file to be closed', async () => (await openFiles(src)) === 0, 10_000);
});
