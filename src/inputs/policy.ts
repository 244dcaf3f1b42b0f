// What a workflow input may read and reach, made once per worker from its configuration
// (docs/decisions/inputs-0001-where-inputs-may-read-and-connect.md): the source folders, the paths that stay
// unreadable whatever the folders say (state, secrets, pools file, clouds.yaml, the configuration file), the
// size caps, and the networks an input URL may reach beyond public addresses.
import os from 'node:os';
import path from 'node:path';
import type { BlockList } from 'node:net';
import { secretsDirOf, type Config } from '../config.js';
import { blockListOf } from './cidr.js';

export interface InputPolicy {
  /** Folders local sources and installers may be read from (resolved; links resolved at each check). */
  sourceDirs: string[];
  /** The state folder: readable only through a source folder inside it. */
  stateDir: string;
  /** Never readable through an input, even inside a source folder. */
  protectedPaths: string[];
  maxSourceBytes: number;
  maxInstallerBytes: number;
  /** Networks an input URL may reach although they are not public; empty = public addresses only. */
  allowedNetworks: BlockList;
  /** The allowed networks as configured, for messages. */
  allowedCidrs: string[];
}

export interface PolicyFiles {
  /** The pools file, the clouds.yaml in use, the configuration file: never an input. */
  protectedFiles?: Array<string | undefined>;
  env?: NodeJS.ProcessEnv;
}

export function inputPolicyOf(config: Config, files: PolicyFiles = {}): InputPolicy {
  const env = files.env ?? process.env;
  const stateDir = path.resolve(config.stateDir);
  const sourceDirs = (config.inputs.sourceDirs ?? [path.join(stateDir, 'sources'), path.join(stateDir, 'samples')]).map(
    (d) => path.resolve(d),
  );
  const protectedPaths = [
    secretsDirOf(config),
    env.XENIMAGE_CONFIG,
    env.OS_CLIENT_CONFIG_FILE,
    // Where openstacksdk looks for clouds.yaml and secure.yaml.
    path.join(os.homedir(), '.config', 'openstack'),
    '/etc/openstack',
    ...(files.protectedFiles ?? []),
  ]
    .filter((p): p is string => typeof p === 'string' && p.length > 0)
    .map((p) => path.resolve(p));
  return {
    sourceDirs,
    stateDir,
    protectedPaths,
    maxSourceBytes: config.inputs.maxSourceBytes,
    maxInstallerBytes: config.inputs.maxInstallerBytes,
    allowedNetworks: blockListOf(config.network.allow),
    allowedCidrs: [...config.network.allow],
  };
}
