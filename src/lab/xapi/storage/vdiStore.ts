// VDI contents: real bytes in sparse files under the lab's state folder (one folder per SR), with the 2 MiB
// allocation map beside each file. ISO SR VDIs are the ISO files themselves (dense, read-only).
import { copyFile, mkdir, open, readFile, rm, stat, truncate } from 'node:fs/promises';
import path from 'node:path';
import { AllocationMap, BLOCK_SIZE } from './allocation.js';
import { writeFileAtomic } from '../../../fs/atomicFile.js';

export interface VdiHandle {
  /** Data file (the ISO itself for ISO SRs). */
  path: string;
  iso: boolean;
  virtualSize: number;
}

export class VdiStore {
  private readonly maps = new Map<string, AllocationMap>();
  private readonly dirty = new Set<string>();
  private flushTimer: NodeJS.Timeout | undefined;

  constructor(readonly root: string) {}

  srDir(srUuid: string): string {
    return path.join(this.root, srUuid);
  }

  handle(srUuid: string, srType: string, vdi: { uuid: string; location: string; virtual_size: number }): VdiHandle {
    const iso = srType === 'iso';
    return {
      path: iso ? path.join(this.srDir(srUuid), vdi.location) : path.join(this.srDir(srUuid), `${vdi.uuid}.raw`),
      iso,
      virtualSize: vdi.virtual_size,
    };
  }

  private allocPath(h: VdiHandle): string {
    return `${h.path}.alloc.json`;
  }

  async create(h: VdiHandle): Promise<void> {
    await mkdir(path.dirname(h.path), { recursive: true });
    const fh = await open(h.path, 'w');
    await fh.truncate(h.virtualSize);
    await fh.close();
    this.maps.set(h.path, AllocationMap.forSize(h.virtualSize));
    this.markDirty(h);
  }

  async destroy(h: VdiHandle): Promise<void> {
    this.maps.delete(h.path);
    this.dirty.delete(h.path);
    await rm(h.path, { force: true });
    if (!h.iso) await rm(this.allocPath(h), { force: true });
  }

  async allocation(h: VdiHandle): Promise<AllocationMap> {
    const cached = this.maps.get(h.path);
    if (cached) return cached;
    let map: AllocationMap;
    if (h.iso) {
      map = AllocationMap.forSize(h.virtualSize);
      map.markRange(0, h.virtualSize);
    } else {
      try {
        map = AllocationMap.fromJSON(
          JSON.parse(await readFile(this.allocPath(h), 'utf8')) as { blocks: number; bits: string },
        );
      } catch {
        map = AllocationMap.forSize(h.virtualSize);
      }
    }
    this.maps.set(h.path, map);
    return map;
  }

  async read(h: VdiHandle, offset: number, length: number): Promise<Buffer> {
    const end = Math.min(h.virtualSize, offset + length);
    const out = Buffer.alloc(Math.max(0, end - offset));
    if (out.length === 0) return out;
    const fh = await open(h.path, 'r');
    try {
      let done = 0;
      while (done < out.length) {
        const { bytesRead } = await fh.read(out, done, out.length - done, offset + done);
        if (bytesRead === 0) break; // past the end of a short file: zeros
        done += bytesRead;
      }
    } finally {
      await fh.close();
    }
    return out;
  }

  async write(h: VdiHandle, offset: number, data: Uint8Array): Promise<void> {
    if (h.iso) throw new Error('ISO VDIs are read-only');
    if (offset < 0 || offset + data.length > h.virtualSize)
      throw new RangeError(`write beyond the end of the disk (${h.virtualSize} bytes)`);
    const fh = await open(h.path, 'r+');
    try {
      let done = 0;
      while (done < data.length) {
        const { bytesWritten } = await fh.write(data, done, data.length - done, offset + done);
        done += bytesWritten;
      }
    } finally {
      await fh.close();
    }
    if ((await this.allocation(h)).markRange(offset, data.length)) this.markDirty(h);
  }

  /** Copies the contents of `src` into the new VDI `dst` (allocated blocks only, so sparseness is kept). */
  async clone(src: VdiHandle, dst: VdiHandle): Promise<void> {
    await this.create(dst);
    const map = await this.allocation(src);
    const target = await this.allocation(dst);
    const fh = await open(dst.path, 'r+');
    try {
      for (const block of map.allocated()) {
        const offset = block * BLOCK_SIZE;
        if (offset >= dst.virtualSize) break;
        const data = await this.read(src, offset, Math.min(BLOCK_SIZE, dst.virtualSize - offset));
        await fh.write(data, 0, data.length, offset);
        target.mark(block);
      }
    } finally {
      await fh.close();
    }
    this.markDirty(dst);
  }

  async resize(h: VdiHandle, newSize: number): Promise<void> {
    await truncate(h.path, newSize);
    (await this.allocation(h)).resize(newSize);
    this.markDirty({ ...h, virtualSize: newSize });
  }

  /** Bytes the data file really occupies on the lab's disk. */
  async physicalBytes(h: VdiHandle): Promise<number> {
    try {
      const st = await stat(h.path);
      return st.blocks * 512;
    } catch {
      return 0;
    }
  }

  /** Copies an ISO file into an ISO SR folder (scenario setup). */
  async placeIso(srUuid: string, fileName: string, source: string): Promise<string> {
    const target = path.join(this.srDir(srUuid), fileName);
    await mkdir(path.dirname(target), { recursive: true });
    await copyFile(source, target);
    return target;
  }

  private markDirty(h: VdiHandle): void {
    if (h.iso) return;
    this.dirty.add(h.path);
    this.flushTimer ??= setTimeout(() => {
      this.flushTimer = undefined;
      void this.flush();
    }, 50);
  }

  /** Writes the changed allocation maps (atomically). */
  async flush(): Promise<void> {
    if (this.flushTimer) {
      clearTimeout(this.flushTimer);
      this.flushTimer = undefined;
    }
    const paths = [...this.dirty];
    this.dirty.clear();
    await Promise.all(
      paths.map(async (p) => {
        const map = this.maps.get(p);
        if (map) await writeFileAtomic(`${p}.alloc.json`, JSON.stringify(map));
      }),
    );
  }
}
