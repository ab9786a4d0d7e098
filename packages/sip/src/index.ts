/**
 * @edgepath/sip — SIP message core: parser, stream framer, URIs, header accessors,
 * splice-based mutation and response building (RFC 3261 §7, §18.3, §19, §20, §25).
 * No dependencies, no sockets.
 */
export const SIP_VERSION = "SIP/2.0";

// errors
export { SipParseError, SipErrorCode } from "./errors.js";
export type { SipParseErrorInit } from "./errors.js";

// model
export type { HeaderField, SipMessageBase, SipRequest, SipResponse, SipMessage } from "./message.js";
export type { SipUri, TelUri, Via, NameAddr, Contact, AuthParams } from "./types.js";

// parse and frame
export { parseMessage } from "./parser.js";
export type { ParseResult, ParseOptions } from "./parser.js";
export { StreamFramer } from "./framer.js";
export type { FrameEvent, FramerOptions } from "./framer.js";

// grammar pieces
export { parseUri, parseSipUri, parseTelUri, formatUri, canonicalAor } from "./uri.js";
export { canonicalHost, ServedDomains } from "./served-domains.js";
export { ownedBytes, ownedString } from "./owned-bytes.js";
export { ByteSlab } from "./byte-slab.js";
export { parseNameAddr, formatNameAddr } from "./name-addr.js";
export { parseVia, viaWithReceived } from "./via.js";
export { parseAuthParams } from "./auth.js";
export { canonicalName, displayName as headerDisplayName, isListHeader, splitList } from "./headers.js";

// mutation and building
export type { MessageEditor } from "./editor.js";
export {
  buildResponse, buildRequest, buildErrorResponse, reasonPhrase, generateBranch, generateTag, BRANCH_MAGIC_COOKIE,
} from "./builder.js";
export type { ResponseOptions } from "./builder.js";
