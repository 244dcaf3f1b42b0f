// The custom search attributes every build sets (never secrets: they are stored and shown in plain text).
import { defineSearchAttributeKey } from '@temporalio/common';

export const XenimageKind = defineSearchAttributeKey('XenimageKind', 'KEYWORD');
export const XenimageImage = defineSearchAttributeKey('XenimageImage', 'KEYWORD');
export const XenimagePool = defineSearchAttributeKey('XenimagePool', 'KEYWORD');
export const XenimageStep = defineSearchAttributeKey('XenimageStep', 'KEYWORD');

export const SEARCH_ATTRIBUTES = [XenimageKind, XenimageImage, XenimagePool, XenimageStep] as const;
