// Every external program xenimage runs, with the Debian/Ubuntu package that provides it: the one table the
// start-up checks, the installer and the "not installed" messages read. Programs that must be Debian's own
// (the OpenStack services and the interpreter with their modules) are named by absolute path; the rest are
// looked up on PATH.

export interface ToolSpec {
  /** A command looked up on PATH, or an absolute path (a program, or a file a program loads). */
  command: string;
  /** The Debian/Ubuntu package that provides it. */
  package: string;
  /** What xenimage uses it for, in messages. */
  purpose: string;
  /** How to ask it for its version, for the worker host report. */
  version?: { args: string[]; pattern: RegExp };
}

function tool(spec: ToolSpec): ToolSpec {
  return spec;
}

export const TOOLS = {
  qemuImg: tool({
    command: 'qemu-img',
    package: 'qemu-utils',
    purpose: 'disk formats: inspection and the conversion bridge',
    version: { args: ['--version'], pattern: /version ([\d.]+)/ },
  }),
  qemuIo: tool({ command: 'qemu-io', package: 'qemu-utils', purpose: "the sample disk of 'xenimage up'" }),
  xorriso: tool({
    command: 'xorriso',
    package: 'xorriso',
    purpose: 'answer media and install ISOs',
    version: { args: ['-version'], pattern: /xorriso ([\d.]+)/ },
  }),
  pigz: tool({
    command: 'pigz',
    package: 'pigz',
    purpose: 'parallel gzip (compressor "pigz")',
    version: { args: ['--version'], pattern: /pigz ([\d.]+)/ },
  }),
  openssl: tool({
    command: 'openssl',
    package: 'openssl',
    purpose: 'WinRM listener certificates',
    version: { args: ['version'], pattern: /OpenSSL ([\d.]+\w*)/ },
  }),
  keystoneManage: tool({ command: '/usr/bin/keystone-manage', package: 'keystone', purpose: 'the embedded Keystone' }),
  keystoneWsgi: tool({
    command: '/usr/bin/keystone-wsgi-public',
    package: 'keystone',
    purpose: 'the embedded Keystone',
  }),
  glanceApi: tool({ command: '/usr/bin/glance-api', package: 'glance-api', purpose: 'the embedded Glance' }),
  glanceManage: tool({ command: '/usr/bin/glance-manage', package: 'glance-common', purpose: 'the embedded Glance' }),
  uwsgi: tool({ command: '/usr/bin/uwsgi', package: 'uwsgi-core', purpose: 'serves the embedded Keystone' }),
  uwsgiPython: tool({
    command: '/usr/lib/uwsgi/plugins/python3_plugin.so',
    package: 'uwsgi-plugin-python3',
    purpose: 'serves the embedded Keystone',
  }),
  /** Debian's interpreter (has the services' modules, unlike a pyenv python3 on PATH). */
  python: tool({ command: '/usr/bin/python3', package: 'python3', purpose: 'the embedded OpenStack services' }),
} as const;

/** What a worker runs: the data path, the answer media, the listener certificate. */
export const WORKER_TOOLS: readonly ToolSpec[] = [TOOLS.qemuImg, TOOLS.xorriso, TOOLS.pigz, TOOLS.openssl];

/** What the embedded Keystone + Glance run. */
export const OPENSTACK_TOOLS: readonly ToolSpec[] = [
  TOOLS.keystoneManage,
  TOOLS.keystoneWsgi,
  TOOLS.glanceApi,
  TOOLS.glanceManage,
  TOOLS.uwsgi,
  TOOLS.uwsgiPython,
  TOOLS.python,
];

/** The package of a command xenimage runs (by its file name), if the catalog knows it. */
export function packageOf(command: string): string | undefined {
  const base = command.slice(command.lastIndexOf('/') + 1);
  return Object.values(TOOLS).find((t) => t.command === command || t.command.endsWith(`/${base}`) || t.command === base)
    ?.package;
}
