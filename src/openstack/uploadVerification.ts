// After PUT /file Glance has not checked anything we sent (docs/reference/glance.md §6): compare status, size, MD5 and the
// cloud's os_hash with what was computed while streaming. A hash algorithm we did not compute is reported,
// not waved through.
import type { GlanceImage } from './glance.js';
import { ImageVerificationError } from './errors.js';

export interface SentData {
  /** Bytes that went through the request body (counted here). */
  bytesSent: number;
  /** What the body's producer computed. */
  tgzBytes: number;
  md5: string;
  /** Hex digests by Glance's algorithm name (sha512, sha256, sha3_512, ...). */
  hashes: Record<string, string>;
}

export interface VerifiedImage {
  size: number;
  checksum: string;
  osHashAlgo: string | null;
  osHashValue: string | null;
}

export function verifyUploadedImage(image: GlanceImage, sent: SentData): VerifiedImage {
  const details = {
    imageId: image.id,
    status: image.status,
    size: image.size,
    bytesSent: sent.bytesSent,
    tgzBytes: sent.tgzBytes,
  };
  if (sent.bytesSent !== sent.tgzBytes) {
    throw new ImageVerificationError(
      `the body produced ${sent.tgzBytes} bytes by its own count but ${sent.bytesSent} were sent`,
      details,
    );
  }
  if (image.status !== 'active')
    throw new ImageVerificationError(`image ${image.id} is "${image.status}" after the upload, not "active"`, details);
  if (image.size !== sent.bytesSent)
    throw new ImageVerificationError(
      `image ${image.id} holds ${String(image.size)} bytes but ${sent.bytesSent} were sent`,
      details,
    );
  if (image.checksum !== sent.md5.toLowerCase()) {
    throw new ImageVerificationError(
      `image ${image.id} has MD5 ${String(image.checksum)} but the data sent has ${sent.md5}`,
      { ...details, checksum: image.checksum, md5: sent.md5 },
    );
  }
  const algo = image.os_hash_algo;
  if (algo) {
    const ours = sent.hashes[algo];
    if (ours === undefined) {
      throw new ImageVerificationError(
        `image ${image.id} is hashed with ${algo} by this cloud, which was not computed while streaming (computed: ${Object.keys(sent.hashes).join(', ')}); set the publish option osHashAlgo to "${algo}"`,
        { ...details, osHashAlgo: algo },
        false,
      );
    }
    if (image.os_hash_value !== ours.toLowerCase()) {
      throw new ImageVerificationError(
        `image ${image.id} has ${algo} ${String(image.os_hash_value)} but the data sent has ${ours}`,
        { ...details, osHashAlgo: algo },
      );
    }
  }
  return { size: image.size, checksum: image.checksum, osHashAlgo: algo, osHashValue: image.os_hash_value };
}
