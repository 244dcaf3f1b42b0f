// cloudbase-init configuration files as its installer generates them (docs/reference/windows.md §4.3), with
// the values xenimage controls made explicit.
export const CLOUDBASE_INSTALL_DIR = 'C:\\Program Files\\Cloudbase Solutions\\Cloudbase-Init';

export interface CloudbaseInitOptions {
  username: string;
  groups: string[];
  injectUserPassword: boolean;
  serialPort?: string;
  metadataServices: string[];
}

export const DEFAULT_METADATA_SERVICES = [
  'cloudbaseinit.metadata.services.configdrive.ConfigDriveService',
  'cloudbaseinit.metadata.services.httpservice.HttpService',
  'cloudbaseinit.metadata.services.ec2service.EC2Service',
  'cloudbaseinit.metadata.services.maasservice.MaaSHttpService',
];

function ini(entries: Array<[string, string | boolean | undefined]>): string {
  return (
    [
      '[DEFAULT]',
      ...entries.filter(([, v]) => v !== undefined).map(([k, v]) => `${k}=${typeof v === 'boolean' ? String(v) : v}`),
    ].join('\r\n') + '\r\n'
  );
}

function common(o: CloudbaseInitOptions): Array<[string, string | boolean | undefined]> {
  const d = CLOUDBASE_INSTALL_DIR;
  return [
    ['username', o.username],
    ['groups', o.groups.join(',')],
    ['inject_user_password', o.injectUserPassword],
    ['config_drive_raw_hhd', true],
    ['config_drive_cdrom', true],
    ['config_drive_vfat', true],
    ['bsdtar_path', `${d}\\bin\\bsdtar.exe`],
    ['mtools_path', `${d}\\bin\\`],
    ['verbose', true],
    ['debug', true],
    ['log_dir', `${d}\\log\\`],
    ['default_log_levels', 'comtypes=INFO,suds=INFO,iso8601=WARN,requests=WARN'],
    ['logging_serial_port_settings', o.serialPort ? `${o.serialPort},115200,N,8` : undefined],
    ['mtu_use_dhcp_config', true],
    ['ntp_use_dhcp_config', true],
    ['local_scripts_path', `${d}\\LocalScripts\\`],
  ];
}

export function cloudbaseInitConf(o: CloudbaseInitOptions): string {
  return ini([
    ...common(o),
    ['log_file', 'cloudbase-init.log'],
    ['metadata_services', o.metadataServices.join(',')],
    ['check_latest_version', false],
  ]);
}

export function cloudbaseInitUnattendConf(o: CloudbaseInitOptions): string {
  return ini([
    ...common(o),
    ['log_file', 'cloudbase-init-unattend.log'],
    ['metadata_services', o.metadataServices.join(',')],
    [
      'plugins',
      'cloudbaseinit.plugins.common.mtu.MTUPlugin,cloudbaseinit.plugins.common.sethostname.SetHostNamePlugin,cloudbaseinit.plugins.windows.extendvolumes.ExtendVolumesPlugin',
    ],
    ['allow_reboot', false],
    ['stop_service_on_exit', false],
    ['check_latest_version', false],
  ]);
}

/** msiexec properties for a silent install (docs/reference/windows.md §4.3: never pass RUN_SERVICE_AS_LOCAL_SYSTEM=0). */
export function cloudbaseInitMsiProperties(o: CloudbaseInitOptions & { runAsLocalSystem: boolean }): string[] {
  const props = [`USERNAME=${o.username}`];
  props.push(o.injectUserPassword ? 'INJECTMETADATAPASSWORD=TRUE' : 'INJECTMETADATAPASSWORD=""');
  if (o.serialPort) props.push(`LOGGINGSERIALPORTNAME=${o.serialPort}`);
  if (o.runAsLocalSystem) props.push('RUN_SERVICE_AS_LOCAL_SYSTEM=1');
  return props;
}
