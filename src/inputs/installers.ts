// An installer a workflow input names (PV tools, cloudbase-init), checked against the input policy before the
// build creates anything and again where it is read: a local file by its real path, a URL by the address rules.
import type { InstallerSource } from '../contracts/installerSource.js';
import { checkLocalInput } from './localFiles.js';
import { checkUrlReachable } from './network.js';
import type { InputPolicy } from './policy.js';

/** The installer as it may be read: a local path replaced by its real path. */
export async function checkInstaller(source: InstallerSource, policy: InputPolicy): Promise<InstallerSource> {
  if ('path' in source) {
    const checked = await checkLocalInput(source.path, policy, 'installer');
    return { path: checked.path, sha256: source.sha256 };
  }
  await checkUrlReachable(source.url, policy, 'installer');
  return source;
}
