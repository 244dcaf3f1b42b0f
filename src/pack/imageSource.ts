// Opening a source image for the data path: any supported format, file or URL, with the facts packing and
// conversion need up front (sizes, allocated blocks, the exact tap VHD size). Its own module so that a caller
// that only converts (`xenimage convert DST.vhd`) does not load the tar and gzip machinery.
import { BLOCK_SIZE, roundUpToBlock } from '../disk/geometry.js';
import { openDisk, type ImageSourceSpec, type OpenDiskOptions } from '../disk/openDisk.js';
import type { DiskReader } from '../disk/reader.js';
import { tapLayout } from '../disk/vhdFormat.js';

export interface DiskImage {
  /** Format of the source as detected ('qcow2', 'vhd', 'raw', or a bridged one such as 'vmdk'). */
  format: string;
  virtualSize: number;
  /** Bytes of guest data to copy: allocated 2 MiB blocks × 2 MiB. */
  allocatedBytes: number;
  allocatedBlocks: number;
  /** Exact size of the tap VHD that packing writes. */
  vhdSize: number;
  bridged: boolean;
  reader: DiskReader;
  /** Releases the source (file handle, HTTP connections, bridge temporary file). */
  close(): Promise<void>;
}

export async function openImageSource(src: ImageSourceSpec, options: OpenDiskOptions = {}): Promise<DiskImage> {
  const opened = await openDisk(src, options);
  const { reader } = opened;
  return {
    format: opened.sourceFormat,
    virtualSize: reader.virtualSize,
    allocatedBlocks: reader.allocatedBlocks.length,
    allocatedBytes: reader.allocatedBlocks.length * BLOCK_SIZE,
    vhdSize: tapLayout(roundUpToBlock(reader.virtualSize), reader.allocatedBlocks.length).totalSize,
    bridged: opened.bridged,
    reader,
    close: () => opened.close(),
  };
}
