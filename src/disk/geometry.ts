// Sizes and limits shared by every reader and writer of the data path.

/** The VHD block (and our allocation granularity): 2 MiB. */
export const BLOCK_SIZE = 2 * 1024 * 1024;
export const SECTOR_SIZE = 512;

/**
 * Largest virtual size xenimage writes: the VHD limit as qemu enforces it (VHD_MAX_SECTORS 0xff000000 sectors,
 * 2040 GiB). Larger sources are refused before anything is created.
 */
export const MAX_VIRTUAL_SIZE = 0xff000000 * SECTOR_SIZE;

export function roundUpToBlock(size: number): number {
  return Math.ceil(size / BLOCK_SIZE) * BLOCK_SIZE;
}

export function blockCountFor(size: number): number {
  return Math.ceil(size / BLOCK_SIZE);
}

export function pad512(n: number): number {
  return Math.ceil(n / 512) * 512;
}

export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${u === 0 ? v : v.toFixed(v >= 100 ? 0 : 1)} ${units[u]}`;
}
