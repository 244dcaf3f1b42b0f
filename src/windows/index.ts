// Answer media for unattended Windows installs.
export {
  AnswerMediaInputSchema,
  buildAnswerMedia,
  parseAnswerMediaInput,
  removeAnswerMedia,
  DEFAULT_VOLUME_LABEL,
  type AnswerMedia,
  type AnswerMediaInput,
} from './answerMedia.js';
export { ArtifactChecksumMismatch, ArtifactSchema, fetchArtifact, type Artifact } from './artifacts.js';
export { buildAutounattend, encodeUnattendPassword, type AutounattendOptions, type Firmware } from './autounattend.js';
export { createListenerCertificate, type ListenerCertificate } from './certificate.js';
export {
  CLOUDBASE_INSTALL_DIR,
  cloudbaseInitConf,
  cloudbaseInitMsiProperties,
  cloudbaseInitUnattendConf,
  DEFAULT_METADATA_SERVICES,
  type CloudbaseInitOptions,
} from './cloudbaseInit.js';
export { CLOUDBASE_INIT_MSI, PV_TOOLS_LOG } from './firstLogon.js';
export { buildIso } from './iso.js';
export { generateWindowsPassword, windowsPassword, type ByteBlocks } from './adminPassword.js';
