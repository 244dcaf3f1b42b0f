// The OpenStack client's public surface (Keystone v3 + Glance v2, clouds.yaml).
export { loadCloud, type CloudConfig, type CloudAuth, type LoadCloudOptions, type Interface } from './cloudConfig.js';
export { openCloud, connectCloud, type OpenStackCloud, type OpenCloudOptions } from './cloud.js';
export { KeystoneSession, identityV3Url, normaliseImageEndpoint, type KeystoneSessionOptions } from './keystone.js';
export { GlanceClient, VISIBILITIES, type GlanceImage, type CreateImageRequest, type Visibility } from './glance.js';
export {
  publishImage,
  deleteBuildImages,
  downloadImage,
  type PublishOptions,
  type PublishResult,
  type UploadBody,
  type BodyResult,
} from './publish.js';
export { BUILD_TAG_PREFIX, BUILD_ID_PROPERTY, buildTag, toCreateRequest, type PublishSpec } from './publishSpec.js';
export { CloudConfigError, KeystoneError, GlanceError, ImageVerificationError, isRetryableStatus } from './errors.js';
export { OpenStackUnreachableError } from './transport.js';
