// The fuzz targets: the project's parsers of untrusted bytes. A disk parser must refuse anything it cannot read
// with one of its typed errors (a XenimageError); the WS-Man and CLIXML parsers may throw an Error the client
// wraps, but never a TypeError, RangeError or the like (a bug in the code, not in the input).
import { DiskCorruptError } from '../src/disk/errors.js';
import { Qcow2Reader } from '../src/disk/qcow2Reader.js';
import type { DiskReader } from '../src/disk/reader.js';
import type { ByteSource } from '../src/disk/source.js';
import { VhdReader } from '../src/disk/vhdReader.js';
import { parseVmdkDescriptor } from '../src/disk/vmdkDescriptor.js';
import { XenimageError } from '../src/errors.js';
import { parseEnvelope, readCommandId, readReceive, readShellId } from '../src/winrm/messages.js';
import { decodeClixml } from '../src/winrm/powershell.js';
import type { FuzzTarget } from './engine.js';

/** The input as a positional source, as a file would be. */
class MemorySource implements ByteSource {
  readonly size: number;
  readonly description = 'fuzz input';
  constructor(private readonly data: Buffer) {
    this.size = data.length;
  }
  async read(buffer: Buffer, position: number): Promise<void> {
    if (position < 0 || position + buffer.length > this.data.length)
      throw new DiskCorruptError(`fuzz input: read past the end (${position}+${buffer.length})`);
    this.data.copy(buffer, 0, position, position + buffer.length);
  }
  async close(): Promise<void> {}
}

/** Opens the reader, then reads its first blocks (where the data path's per-block parsing lives). */
async function readSome(open: Promise<DiskReader>): Promise<void> {
  const reader = await open;
  try {
    for (const index of reader.allocatedBlocks.slice(0, 2)) await reader.readBlock(index);
  } finally {
    await reader.close();
  }
}

const typedOnly = (err: unknown) => !(err instanceof XenimageError);
const codeBugs = (err: unknown) =>
  !(err instanceof Error) ||
  err instanceof TypeError ||
  err instanceof RangeError ||
  err instanceof ReferenceError ||
  err.name === 'AssertionError';

const ascii = (...words: string[]) => words.map((w) => Buffer.from(w, 'latin1'));

export const TARGETS: Record<string, FuzzTarget> = {
  qcow2: {
    name: 'qcow2',
    run: (data) => readSome(Qcow2Reader.open(new MemorySource(data))),
    isBug: typedOnly,
    coverage: ['/src/disk/'],
    dictionary: [
      ...ascii('QFI\xfb', '\x00\x00\x00\x03', '\x00\x00\x00\x02'),
      Buffer.from([0xe2, 0x79, 0x2a, 0xca]), // backing format extension
      Buffer.from([0x68, 0x80, 0x3f, 0x8f]), // feature name table
      Buffer.from([0x05, 0x37, 0xbe, 0x77]), // full disk encryption
      Buffer.from([0x44, 0x41, 0x54, 0x41]), // external data file
      Buffer.from([0x80, 0, 0, 0, 0, 0, 0, 0]), // L1/L2 "copied" flag
      Buffer.from([0x40, 0, 0, 0, 0, 0, 0, 0]), // compressed cluster flag
    ],
    maxLength: 256 * 1024,
  },
  vhd: {
    name: 'vhd',
    run: (data) => readSome(VhdReader.open(new MemorySource(data))),
    isBug: typedOnly,
    coverage: ['/src/disk/'],
    dictionary: [
      ...ascii('conectix', 'cxsparse', '\x00\x00\x00\x02', '\x00\x00\x00\x03', '\x00\x00\x00\x04', '\x00\x01\x00\x00'),
      Buffer.from([0xff, 0xff, 0xff, 0xff]), // an unused BAT entry
      Buffer.from([0x00, 0x20, 0x00, 0x00]), // 2 MiB block size
    ],
    maxLength: 256 * 1024,
  },
  vmdkDescriptor: {
    name: 'vmdkDescriptor',
    run: async (data) => {
      parseVmdkDescriptor(data.toString('latin1'));
    },
    isBug: typedOnly,
    coverage: ['/src/disk/'],
    dictionary: ascii(
      '# Disk DescriptorFile\n',
      'version=1\n',
      'createType="monolithicFlat"\n',
      'createType="twoGbMaxExtentSparse"\n',
      'parentCID=ffffffff\n',
      'parentFileNameHint="',
      'RW 2048 FLAT "',
      'RDONLY 128 SPARSE "',
      'RW 4 ZERO\n',
      'VMFS',
      '" 0\n',
      '../',
      '/etc/passwd',
      '\\',
      'ddb.adapterType = "ide"\n',
    ),
    maxLength: 16 * 1024,
  },
  wsman: {
    name: 'wsman',
    run: async (data) => {
      const text = data.toString('utf8');
      try {
        const env = await parseEnvelope(text);
        readShellId(env);
        readCommandId(env);
        readReceive(env, 'C0FFEE');
      } finally {
        await decodeClixml(`#< CLIXML\r\n${text}`);
      }
    },
    isBug: codeBugs,
    coverage: ['/src/winrm/'],
    dictionary: ascii(
      '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" ',
      'xmlns:rsp="http://schemas.microsoft.com/wbem/wsman/1/windows/shell" ',
      'xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" ',
      'xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd" ',
      'xmlns:f="http://schemas.microsoft.com/wbem/wsman/1/wsmanfault" ',
      '<s:Body>',
      '<s:Fault><s:Code><s:Value>s:Receiver</s:Value></s:Code>',
      '<s:Detail><f:WSManFault Code="2150858793"><f:Message>',
      '<rsp:ReceiveResponse>',
      '<rsp:Stream Name="stdout" CommandId="C0FFEE">',
      '<rsp:CommandState State="http://schemas.microsoft.com/wbem/wsman/1/windows/shell/CommandState/Done">',
      '<rsp:ExitCode>',
      '<Objs Version="1.1.0.1" xmlns="http://schemas.microsoft.com/powershell/2004/04">',
      '<S S="Error">',
      '_x000D__x000A_',
      '<![CDATA[',
      '&amp;',
      '<!DOCTYPE x [<!ENTITY a "aaaa">]>',
    ),
    maxLength: 32 * 1024,
  },
};
